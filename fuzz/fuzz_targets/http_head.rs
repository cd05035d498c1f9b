#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Paused: the head deadline passes as soon as nothing else can run, not after 500 ms.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(bootgate::fuzzing::request_head(data));
});

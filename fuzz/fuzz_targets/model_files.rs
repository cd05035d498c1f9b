#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bootgate::fuzzing::model_files(data));

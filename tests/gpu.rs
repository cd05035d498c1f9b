//! The `gpu` check and the XID watch end to end: the real binary loading the project's fake
//! `libnvidia-ml.so.1` through the real nvml-wrapper, each scenario a process of its own
//! (NVML state and the fake's settings are per process).

#[macro_use]
mod common;

use common::fake_nvml::{self, Driver};
use common::*;

/// A scene with the fake driver installed under `driver/` and a gpu check pointing at it.
fn gpu_scene(driver: Driver, gpu: &str) -> (Scene, String) {
    let scene = Scene::new();
    let library = fake_nvml::install(&scene.path("driver"), driver);
    let config = format!(
        "listen: \"127.0.0.1:0\"\ndrain: 100ms\ndeadline: 20s\nchecks:\n  gpu:\n    kind: gpu\n    library: {}\n{gpu}",
        library.display()
    );
    (scene, config)
}

fn check(driver: Driver, gpu: &str, env: &[(&str, &str)]) -> (Finished, Scene) {
    let (scene, config) = gpu_scene(driver, gpu);
    let path = scene.config(&config);
    let finished = scene.run(&["check", "--config", path.to_str().unwrap()], env);
    (finished, scene)
}

const UUID0: &str = "GPU-00000000-fake-4e56-b1d0-000000000000";
const UUID1: &str = "GPU-00000000-fake-4e56-b1d0-000000000001";

#[test]
fn healthy_gpus_pass_and_are_named_in_the_status() {
    let (scene, config) = gpu_scene(
        Driver::Current,
        "    count: 2\n    cuda: \"12.4\"\n    driver: \"550.54\"\n    free_memory: 70GiB\n    mig: disabled\n",
    );
    let gate = scene.init(&config, &[("FAKE_NVML_GPUS", "2")]);
    assert_eq!(gate.code(), Some(0), "{}", gate.stderr);
    assert_contains!(
        gate.stderr,
        "gpu passed (2 GPUs (NVIDIA H100 80GB HBM3), driver 550.54.15, CUDA 12.4)"
    );
    let status = scene.status();
    let gpu = &status["checks"][0]["gpu"];
    assert_eq!(gpu["driver"], "550.54.15");
    assert_eq!(gpu["cuda"], "12.4");
    assert_eq!(gpu["cuda_source"], "libcuda");
    assert_eq!(gpu["gpus"][1]["index"], 1);
    assert_eq!(gpu["gpus"][1]["uuid"], UUID1);
    assert_eq!(gpu["gpus"][1]["verdict"], "ok");
    assert_eq!(gpu["gpus"][1]["memory_free"], 81559u64 << 20);
    let env = std::fs::read_to_string(scene.state_dir().join("env")).unwrap();
    assert!(env.lines().all(|l| l.starts_with('#')), "{env}");
}

#[test]
fn check_reports_each_gpu() {
    let (out, _scene) = check(
        Driver::Current,
        "",
        &[
            ("FAKE_NVML_GPUS", "2"),
            ("FAKE_NVML_GPU1_MEM_USED_MIB", "1024"),
        ],
    );
    assert_eq!(out.code(), Some(0), "{}{}", out.stdout, out.stderr);
    assert_contains!(
        out.stdout,
        format!("GPU 1 ({UUID1}) NVIDIA H100 80GB HBM3, 78.6 GiB free of 79.6 GiB: ok")
    );
}

#[test]
fn a_missing_library_names_the_likely_causes() {
    // The loader's cache finds a real driver's library whatever LD_LIBRARY_PATH says.
    let cache = std::process::Command::new("ldconfig").arg("-p").output();
    if cache.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("libnvidia-ml.so.1")) {
        eprintln!("this host has libnvidia-ml.so.1: nothing to find missing");
        return;
    }
    let scene = Scene::new();
    let gate = scene.init("checks:\n  gpu: {kind: gpu}\n", &[("LD_LIBRARY_PATH", "")]);
    assert_eq!(gate.code(), Some(1));
    assert_contains!(
        gate.stderr,
        "gpu failed: libnvidia-ml.so.1 not found: the container requests no nvidia.com/gpu, or NVIDIA_DRIVER_CAPABILITIES lacks utility"
    );
}

#[test]
fn the_gate_waits_for_a_driver_that_loads_late() {
    let (scene, config) = gpu_scene(Driver::Current, "");
    let module = scene.path("module-not-loaded");
    std::fs::write(&module, "").unwrap();
    let mut gate = scene.spawn_init(
        &config,
        &[("FAKE_NVML_INIT_BLOCK_FILE", module.to_str().unwrap())],
    );
    gate.wait_for_line(
        "waiting for gpu: the NVIDIA kernel driver is not loaded: waiting for it (a driver container may still be installing it; on the node, nvidia-smi says why)",
    );
    std::fs::remove_file(&module).unwrap();
    let (status, _) = gate.wait();
    assert_eq!(status.code(), Some(0), "{}", gate.full_stderr());
    assert_contains!(gate.stderr(), "gpu passed");
}

#[test]
fn a_driver_upgraded_without_reboot_fails_at_once() {
    let (out, _scene) = check(
        Driver::Current,
        "",
        &[("FAKE_NVML_INIT_ERROR", "LIB_RM_VERSION_MISMATCH")],
    );
    assert_eq!(out.code(), Some(1));
    assert_contains!(
        out.stdout,
        "libnvidia-ml.so.1 and the kernel driver are different versions: the driver was upgraded without a reboot — drain and reboot the node"
    );
}

#[test]
fn nvml_codes_newer_than_the_wrapper_get_words() {
    let (out, _scene) = check(Driver::Current, "", &[("FAKE_NVML_INIT_ERROR", "28")]);
    assert_eq!(out.code(), Some(1));
    assert_contains!(
        out.stdout,
        "NVML cannot start: GPU not found: it fell off the bus or was removed (NVML error 28) — drain the node"
    );
}

#[test]
fn a_driver_too_old_for_the_image_names_the_driver_to_install() {
    let (out, _scene) = check(
        Driver::Current,
        "    cuda: \"12.4\"\n",
        &[
            ("FAKE_NVML_DRIVER", "535.104.05"),
            ("FAKE_NVML_CUDA", "12020"),
        ],
    );
    assert_eq!(out.code(), Some(1));
    assert_contains!(
        out.stdout,
        "✖ gpu  driver 535.104.05 supports CUDA 12.2; this image needs CUDA 12.4 (driver ≥ 550.54.14)"
    );
}

#[test]
fn minor_version_compatibility_passes_with_a_caveat() {
    let (out, _scene) = check(
        Driver::Current,
        "    cuda: \"12.4\"\n    cuda_compat: minor\n",
        &[
            ("FAKE_NVML_DRIVER", "535.104.05"),
            ("FAKE_NVML_CUDA", "12020"),
        ],
    );
    assert_eq!(out.code(), Some(0), "{}", out.stdout);
    assert_contains!(
        out.stdout,
        "warning: driver 535.104.05 supports CUDA 12.2; CUDA 12.4 runs through minor-version compatibility"
    );
}

#[test]
fn a_utility_only_container_reads_cuda_through_nvml() {
    let (scene, config) = gpu_scene(Driver::Current, "    cuda: \"12.4\"\n");
    let gate = scene.init(&config, &[("FAKE_NVML_LIBCUDA", "0")]);
    assert_eq!(gate.code(), Some(0), "{}", gate.stderr);
    assert_eq!(scene.status()["checks"][0]["gpu"]["cuda_source"], "nvml");
}

#[test]
fn too_few_gpus_says_what_to_request() {
    let (out, _scene) = check(Driver::Current, "    count: 2\n", &[]);
    assert_eq!(out.code(), Some(1));
    assert_contains!(
        out.stdout,
        "✖ gpu  need 2 GPUs, 1 visible: request nvidia.com/gpu: 2 for this container"
    );
}

#[test]
fn a_lost_gpu_among_two_fails_the_gate() {
    let (out, _scene) = check(
        Driver::Current,
        "    count: 2\n",
        &[("FAKE_NVML_GPUS", "2"), ("FAKE_NVML_GPU1_LOST", "1")],
    );
    assert_eq!(out.code(), Some(1));
    assert_contains!(
        out.stdout,
        "✖ gpu  GPU 1: fell off the bus (GPU lost) — drain the node; need 2 GPUs, 1 usable of 2"
    );
    assert_contains!(out.stdout, format!("GPU 0 ({UUID0}) NVIDIA H100 80GB HBM3"));
}

#[test]
fn the_gate_waits_for_memory_another_process_frees() {
    let (scene, config) = gpu_scene(Driver::Current, "    free_memory: 70GiB\n");
    let settings = scene.path("fake-nvml.env");
    std::fs::write(&settings, "FAKE_NVML_GPU0_MEM_USED_MIB=71000\n").unwrap();
    let mut gate = scene.spawn_init(
        &config,
        &[("FAKE_NVML_CONFIG_FILE", settings.to_str().unwrap())],
    );
    gate.wait_for_line(&format!(
        "waiting for gpu: GPU 0 ({UUID0}): 10.3 GiB free of 79.6 GiB, needs 70.0 GiB — another process holds GPU memory"
    ));
    let freed = scene.path("fake-nvml.env.new");
    std::fs::write(&freed, "FAKE_NVML_GPU0_MEM_USED_MIB=0\n").unwrap();
    std::fs::rename(&freed, &settings).unwrap();
    let (status, _) = gate.wait();
    assert_eq!(status.code(), Some(0), "{}", gate.full_stderr());
}

#[test]
fn uncorrectable_ecc_errors_fail_the_gpu() {
    let (scene, config) = gpu_scene(Driver::Current, "");
    let gate = scene.init(
        &config,
        &[
            ("FAKE_NVML_GPUS", "2"),
            ("FAKE_NVML_GPU1_ECC_UNCORRECTED_VOLATILE", "2"),
        ],
    );
    assert_eq!(gate.code(), Some(1));
    let reason = format!("GPU 1 ({UUID1}): 2 uncorrectable ECC errors since boot — drain the node");
    assert_contains!(gate.stderr, format!("gpu failed: {reason}"));
    let termination = &scene.status()["checks"][0];
    assert_eq!(termination["gpu"]["gpus"][1]["verdict"], "unusable");
    assert_eq!(termination["gpu"]["gpus"][0]["verdict"], "ok");
}

#[test]
fn retired_pages_fail_from_dcgms_limit_and_pending_ones_warn() {
    let (out, _scene) = check(
        Driver::Current,
        "",
        &[
            ("FAKE_NVML_RETIRED_SBE", "40"),
            ("FAKE_NVML_RETIRED_DBE", "23"),
        ],
    );
    assert_eq!(out.code(), Some(1));
    assert_contains!(
        out.stdout,
        "63 retired memory pages (limit 63) — the GPU needs replacing: drain the node"
    );
    let (out, _scene) = check(
        Driver::Current,
        "",
        &[
            ("FAKE_NVML_RETIRED_DBE", "62"),
            ("FAKE_NVML_RETIRED_PENDING", "1"),
        ],
    );
    assert_eq!(out.code(), Some(0), "{}", out.stdout);
    assert_contains!(
        out.stdout,
        "a page retirement is pending: a GPU reset applies it"
    );
}

#[test]
fn row_remap_failure_and_recovery_actions_fail_the_gpu() {
    let (out, _scene) = check(Driver::Current, "", &[("FAKE_NVML_REMAP_FAILURE", "1")]);
    assert_eq!(out.code(), Some(1));
    assert_contains!(out.stdout, "a row remapping failed — the GPU needs service");
    let (out, _scene) = check(Driver::Current, "", &[("FAKE_NVML_RECOVERY_ACTION", "2")]);
    assert_eq!(out.code(), Some(1));
    assert_contains!(out.stdout, "the driver asks for a node reboot");
    let (out, _scene) = check(Driver::Current, "", &[("FAKE_NVML_RECOVERY_ACTION", "3")]);
    assert_eq!(out.code(), Some(0), "{}", out.stdout);
    assert_contains!(out.stdout, "drain peer-to-peer traffic");
}

#[test]
fn mig_mode_must_match_and_must_not_be_pending() {
    let (out, _scene) = check(
        Driver::Current,
        "    mig: disabled\n",
        &[("FAKE_NVML_MIG", "1")],
    );
    assert_eq!(out.code(), Some(1));
    assert_contains!(
        out.stdout,
        format!(
            "GPU 0 ({UUID0}): MIG mode is enabled; this check needs it disabled (mig: disabled)"
        )
    );
    let (out, _scene) = check(
        Driver::Current,
        "    mig: disabled\n",
        &[("FAKE_NVML_MIG", "0"), ("FAKE_NVML_MIG_PENDING", "1")],
    );
    assert_eq!(out.code(), Some(1));
    assert_contains!(
        out.stdout,
        "a MIG mode change is pending a GPU reset (disabled now, enabled after the reset)"
    );
}

#[test]
fn a_prohibited_compute_mode_fails() {
    let (out, _scene) = check(Driver::Current, "", &[("FAKE_NVML_COMPUTE_MODE", "2")]);
    assert_eq!(out.code(), Some(1));
    assert_contains!(
        out.stdout,
        "compute mode is Prohibited: no process may use it"
    );
}

#[test]
fn an_old_driver_without_v2_calls_is_read_through_v1_and_unknowns() {
    let (scene, config) = gpu_scene(Driver::R470, "    free_memory: 70GiB\n    mig: any\n");
    let gate = scene.init(
        &config,
        &[
            ("FAKE_NVML_DRIVER", "470.82.01"),
            ("FAKE_NVML_CUDA", "11040"),
            ("FAKE_NVML_MEM_RESERVED_MIB", "512"),
        ],
    );
    assert_eq!(gate.code(), Some(0), "{}", gate.stderr);
    let gpu = &scene.status()["checks"][0]["gpu"]["gpus"][0];
    // v1 counts reserved memory as used: free is what is left either way.
    assert_eq!(gpu["memory_free"], (81559u64 - 512) << 20);
    assert_eq!(gpu["verdict"], "ok");
    let unknown: Vec<&str> = gpu["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(unknown, ["remapped rows", "mig"]);
}

#[test]
fn degrade_passes_the_gate_in_cpu_safe_mode() {
    let (scene, config) = gpu_scene(
        Driver::Current,
        "    count: 2\n    on_fail: degrade\n    timeout: 5s\n",
    );
    let path = scene.config(&config);
    let mut run = scene.spawn(
        &[
            "run",
            "--config",
            path.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo \"server sees CUDA_VISIBLE_DEVICES=[$CUDA_VISIBLE_DEVICES] mode=$BOOTGATE_SAFE_MODE\" >&2; exec sleep 30",
        ],
        &[],
    );
    let port = guard_port(&mut run);
    run.wait_for_all(&[
        "gpu failed; degrading: need 2 GPUs, 1 visible",
        "server sees CUDA_VISIBLE_DEVICES=[] mode=cpu",
        "readiness: starting -> ready",
    ]);
    let env = std::fs::read_to_string(scene.state_dir().join("env")).unwrap();
    let body: Vec<&str> = env.lines().skip(1).collect();
    assert_eq!(
        body,
        [
            "# Degraded: gpu: need 2 GPUs, 1 visible: request nvidia.com/gpu: 2 for this container",
            "# CPU safe mode: CUDA sees no GPU.",
            "export CUDA_VISIBLE_DEVICES=''",
            "export BOOTGATE_SAFE_MODE='cpu'",
            "export BOOTGATE_DEGRADED='gpu'",
        ]
    );
    assert_eq!(scene.status()["checks"][0]["state"], "degraded");
    let (code, _, body) = get(port, "/readyz?verbose");
    assert_eq!(code, 200, "{body}");
    assert_contains!(
        body,
        format!(
            "[+]gpu ok (degraded)\n    GPU 0 ({UUID0}) NVIDIA H100 80GB HBM3, 79.6 GiB free of 79.6 GiB: ok\n"
        )
    );
    let (_, _, metrics) = get(port, "/metrics");
    assert_contains!(metrics, "bootgate_degraded{check=\"gpu\"} 1");
}

#[test]
fn a_fatal_xid_turns_the_guard_unready_and_application_xids_do_not() {
    let (scene, config) = gpu_scene(Driver::Current, "    watch: true\n");
    let path = scene.config(&config);
    let settings = scene.path("fake-nvml.env");
    std::fs::write(&settings, "").unwrap();
    let mut run = scene.spawn(
        &["run", "--config", path.to_str().unwrap()],
        &[
            ("FAKE_NVML_CONFIG_FILE", settings.to_str().unwrap()),
            ("FAKE_NVML_GPUS", "2"),
        ],
    );
    let port = guard_port(&mut run);
    run.wait_for_line("XID watch: watching for critical XIDs");
    assert_eq!(get(port, "/readyz").0, 200);

    let write = |text: &str| {
        let next = scene.path("fake-nvml.env.new");
        std::fs::write(&next, text).unwrap();
        std::fs::rename(&next, &settings).unwrap();
    };
    write("FAKE_NVML_GPU1_XID=13\n");
    run.wait_for_line(&format!(
        "XID watch: GPU 1 ({UUID1}): XID 13 (graphics engine exception), an application error; ignored"
    ));
    assert_eq!(get(port, "/readyz").0, 200);

    write("FAKE_NVML_GPU1_XID=13,79\n");
    let reason = format!("GPU 1 ({UUID1}): XID 79 (GPU has fallen off the bus) — drain the node");
    run.wait_for_line(&format!("watched check gpu failing: {reason}"));
    let (code, _, body) = get(port, "/readyz/gpu");
    assert_eq!(code, 503);
    // A fatal XID is final: the line says so, and since when.
    assert!(
        body.starts_with("gpu failed: definitive since ")
            && body.ends_with(&format!(": {reason}\n")),
        "{body}"
    );
    let (code, _, body) = get(port, "/readyz?verbose");
    assert_eq!(code, 503);
    assert_contains!(
        body,
        format!("[-]gpu failed: reason withheld\n    GPU 0 ({UUID0}) NVIDIA H100 80GB HBM3")
    );
}

#[test]
fn queries_the_driver_cannot_answer_are_unknown_not_unhealthy() {
    let (scene, config) = gpu_scene(Driver::Current, "");
    let gate = scene.init(
        &config,
        &[
            (
                "FAKE_NVML_FAIL_nvmlDeviceGetTotalEccErrors",
                "NOT_SUPPORTED",
            ),
            ("FAKE_NVML_FAIL_nvmlDeviceGetRetiredPages", "DEPRECATED"),
            (
                "FAKE_NVML_FAIL_nvmlDeviceGetFieldValues",
                "FUNCTION_NOT_FOUND",
            ),
        ],
    );
    assert_eq!(gate.code(), Some(0), "{}", gate.stderr);
    let gpu = &scene.status()["checks"][0]["gpu"]["gpus"][0];
    assert_eq!(gpu["verdict"], "ok");
    assert_eq!(
        gpu["unknown"],
        serde_json::json!(["ecc", "retired pages", "recovery action"])
    );
}

#[test]
fn page_retirement_that_rows_replace_is_no_gap_and_is_one_where_they_do_not() {
    // An H100: no page retirement by design, remapped rows instead.
    let unsupported = [
        ("FAKE_NVML_FAIL_nvmlDeviceGetRetiredPages", "NOT_SUPPORTED"),
        (
            "FAKE_NVML_FAIL_nvmlDeviceGetRetiredPagesPendingStatus",
            "NOT_SUPPORTED",
        ),
    ];
    let (scene, config) = gpu_scene(Driver::Current, "");
    let gate = scene.init(&config, &unsupported);
    assert_eq!(gate.code(), Some(0), "{}", gate.stderr);
    let gpu = &scene.status()["checks"][0]["gpu"]["gpus"][0];
    assert_eq!(gpu["verdict"], "ok");
    assert_eq!(gpu.get("unknown"), None, "{gpu}");

    // Without remapped rows to stand in, the same answers leave real gaps.
    let mut neither = unsupported.to_vec();
    neither.push(("FAKE_NVML_FAIL_nvmlDeviceGetRemappedRows", "NOT_SUPPORTED"));
    let gate = scene.init(&config, &neither);
    assert_eq!(gate.code(), Some(0), "{}", gate.stderr);
    let gpu = &scene.status()["checks"][0]["gpu"]["gpus"][0];
    assert_eq!(
        gpu["unknown"],
        serde_json::json!(["retired pages", "pending retirement", "remapped rows"])
    );
}

#[test]
fn the_guard_does_not_hold_the_servers_own_memory_against_the_gpu() {
    let model = HttpServer::start(200, "ok");
    let (scene, config) = gpu_scene(Driver::Current, "    free_memory: 70GiB\n    watch: true\n");
    let config = format!("{config}{}", health_sentinel(&model));
    let path = scene.config(&config);
    let settings = scene.path("fake-nvml.env");
    std::fs::write(&settings, "").unwrap();
    let mut run = scene.spawn(
        &["run", "--config", path.to_str().unwrap()],
        &[
            ("FAKE_NVML_CONFIG_FILE", settings.to_str().unwrap()),
            ("FAKE_NVML_LOG", "1"),
        ],
    );
    let port = guard_port(&mut run);
    run.wait_for_line("readiness: starting -> ready");
    // The server has loaded its model: most of the memory is taken. The ignored XID marks the
    // moment the fake has seen the change.
    let next = scene.path("fake-nvml.env.new");
    std::fs::write(
        &next,
        "FAKE_NVML_GPU0_MEM_USED_MIB=71000\nFAKE_NVML_GPU0_XID=13\n",
    )
    .unwrap();
    std::fs::rename(&next, &settings).unwrap();
    run.wait_for_line("XID 13 (graphics engine exception), an application error; ignored");
    // Three evaluations later, the second one's verdict has been taken.
    for _ in 0..3 {
        run.wait_for_line("nvmlDeviceGetMemoryInfo_v2(");
    }
    assert_eq!(get(port, "/readyz").0, 200, "{}", run.stderr());
    assert!(!run.stderr().contains("gpu failing"), "{}", run.stderr());
}

#[test]
fn a_manifest_pins_the_cuda_and_driver_the_gpu_check_discovered() {
    let (scene, gpu) = gpu_scene(Driver::Current, "");
    std::fs::create_dir_all(scene.path("model")).unwrap();
    let manifest = |cuda: &str| {
        std::fs::write(
            scene.path("model/bootgate-manifest.yaml"),
            format!("pins:\n  cuda: \"{cuda}\"\n  driver: \"550.54.15\"\n  gpu_count: \"1\"\nfiles: {{}}\n"),
        )
        .unwrap();
    };
    let config = format!(
        "{gpu}  weights:\n    kind: manifest\n    manifest: @/model/bootgate-manifest.yaml\n    after: [gpu]\n    effective:\n      cuda: {{check: gpu}}\n      driver: {{check: gpu}}\n      gpu_count: {{check: gpu, fact: gpus}}\n"
    );
    manifest(">=12.4");
    let done = scene.init(&config, &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stderr, "weights passed (3 pins, 0 files (0 B) match)");

    // The image wants a newer CUDA than this driver supports: named before the server starts.
    manifest(">=12.6");
    let done = scene.init(&config, &[("FAKE_NVML_CUDA", "12.4")]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "cuda  declared >=12.6  runtime 12.4");

    // `check --only` leaves the gpu check out: the pin says why it has no value.
    let path = scene.config(&config);
    let alone = scene.run(
        &[
            "check",
            "--config",
            path.to_str().unwrap(),
            "--only",
            "weights",
        ],
        &[],
    );
    assert_eq!(alone.code(), Some(1), "{}", alone.stdout);
    assert_contains!(
        alone.stdout,
        "cuda       runtime unknown: check gpu has not run (it runs first under `init`; `check --only` leaves it out)"
    );
}

#[test]
fn a_watched_manifest_reads_the_gpu_values_the_gate_found() {
    let model = HttpServer::start(200, "ok");
    let (scene, gpu) = gpu_scene(Driver::Current, "");
    std::fs::create_dir_all(scene.path("model")).unwrap();
    std::fs::write(
        scene.path("model/bootgate-manifest.yaml"),
        "pins:\n  cuda: \">=12.4\"\n  build: b-1\nfiles: {}\n",
    )
    .unwrap();
    std::fs::write(scene.path("build-id"), "b-1").unwrap();
    let config = format!(
        "{gpu}  weights:\n    kind: manifest\n    manifest: @/model/bootgate-manifest.yaml\n    after: [gpu]\n    watch: true\n    effective:\n      cuda: {{check: gpu}}\n      build: {{file: @/build-id}}\n{}",
        health_sentinel(&model)
    );
    let path = scene.config(&config);
    let mut run = scene.spawn(&["run", "--config", path.to_str().unwrap()], &[]);
    run.wait_for_line("readiness: starting -> ready");

    // The guard's evaluations still know the CUDA version: only the real change is named.
    let next = scene.path("build-id.new");
    std::fs::write(&next, "b-2").unwrap();
    std::fs::rename(&next, scene.path("build-id")).unwrap();
    run.wait_for_line("readiness: ready -> unready: weights failing");
    run.wait_for_line("build  declared b-1  runtime b-2");
    assert!(!run.stderr().contains("has not run"), "{}", run.stderr());
}

#[test]
fn a_degraded_gpu_is_degraded_everywhere_when_the_gate_fails() {
    // One GPU where two are wanted: gpu degrades, and warmup, which needs it, is skipped.
    let (scene, config) = gpu_scene(
        Driver::Current,
        "    count: 2\n    on_fail: degrade\n    timeout: 300ms\n  warmup: {kind: secret, env: WARMUP_KEY, after: [gpu]}\n",
    );
    let (gate, message) = scene.init_reporting(&config, &[("WARMUP_KEY", "warmup-key-value")]);
    assert_eq!(gate.code(), Some(1), "{}", gate.stderr);
    assert_contains!(gate.stderr, "gpu failed; degrading: ");
    let status = scene.status();
    assert_eq!(status["outcome"], "failed");
    assert_eq!(status["checks"][0]["state"], "degraded", "{status}");
    assert_eq!(status["checks"][1]["state"], "skipped", "{status}");
    let lines: Vec<&str> = message.lines().collect();
    let gpu = lines
        .iter()
        .find(|l| l.starts_with("gpu"))
        .unwrap_or_else(|| panic!("{message}"));
    assert!(
        gpu.starts_with("gpu (degraded): ") && gpu.contains("need 2 GPUs, 1 visible"),
        "{message}"
    );
    // What failed the gate is last: warmup, which could not run.
    assert_eq!(
        lines.last().copied(),
        Some("warmup: not run: it runs after gpu, which did not pass"),
        "{message}"
    );

    // `check`, with a required check that fails beside it.
    let path = scene.config(&config.replace("after: [gpu]", "after: []"));
    let check = scene.run(&["check", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(check.code(), Some(1), "{}{}", check.stdout, check.stderr);
    assert_contains!(check.stdout, "! gpu     need 2 GPUs, 1 visible");
    assert_contains!(check.stdout, "✖ warmup  env WARMUP_KEY is not set");
    assert_contains!(check.stdout, "0 passed, 1 failed, 1 degraded");
}

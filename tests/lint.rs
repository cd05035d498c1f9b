//! `bootgate lint` and the `prompt` check, through the real binary.

#[macro_use]
mod common;

use std::path::Path;

use common::*;

/// A plain prompt with CRLF line ends and characters wider than a byte, and a Jinja chat
/// template that binds its own names.
fn write_prompts(scene: &Scene) {
    std::fs::create_dir_all(scene.path("prompts/chat")).unwrap();
    std::fs::write(
        scene.path("prompts/greeting.txt"),
        "Grüße, {{ user_nme }}!\r\nRegion: ${REGION}, price $${PRICE}.\r\n«${MODEL}» {{ tone | upper }}\r\n",
    )
    .unwrap();
    std::fs::write(
        scene.path("prompts/chat/turns.j2"),
        "{%- set greeting = 'hi' %}\n\
         {%- macro turn(role, text) %}<|{{ role }}|>{{ text | trim }}{% endmacro %}\n\
         {%- for message in messages %}\n\
         {{- turn(message.role, message.content) }}{{ loop.index }}{{ greeting }}\n\
         {%- endfor %}\n\
         {% raw %}{{ not_a_variable }}{% endraw %}{# {{ nor_this }} #}\n\
         {{- eos_tokn }}{{ role }}\n",
    )
    .unwrap();
}

#[test]
fn findings_have_exact_positions_and_a_close_name_and_exit_1() {
    let scene = Scene::new();
    write_prompts(&scene);
    std::fs::write(
        scene.path("vars.yaml"),
        "user_name: friend\ntone: warm\neos_token: \"</s>\"\n",
    )
    .unwrap();
    let done = scene.run(&["lint", "--vars", "vars.yaml", "prompts/**/*"], &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_eq!(
        done.stdout,
        "prompts/chat/turns.j2:7:5: undeclared template variable \"eos_tokn\" (did you mean \"eos_token\"?)\n\
         prompts/chat/turns.j2:7:19: undeclared template variable \"role\"\n\
         prompts/greeting.txt:1:11: undeclared template variable \"user_nme\" (did you mean \"user_name\"?)\n\
         prompts/greeting.txt:2:11: undeclared template variable \"REGION\"\n\
         prompts/greeting.txt:3:4: undeclared template variable \"MODEL\"\n"
    );
}

#[test]
fn the_environment_supplies_dollar_placeholders_and_a_clean_run_exits_0() {
    let scene = Scene::new();
    write_prompts(&scene);
    std::fs::write(
        scene.path("prompts/chat/turns.j2"),
        "{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}",
    )
    .unwrap();
    std::fs::write(
        scene.path("vars.yaml"),
        "user_nme: friend\ntone: \"\"\neos_token: \"</s>\"\nMODEL: llama\n",
    )
    .unwrap();
    let done = scene.run(
        &[
            "lint",
            "--vars",
            "vars.yaml",
            "prompts/*.txt",
            "prompts/chat/*.j2",
        ],
        &[("REGION", "eu-west")],
    );
    assert_eq!(done.code(), Some(0), "{}{}", done.stdout, done.stderr);
    assert_eq!(done.stdout, "");
}

#[test]
fn a_name_without_a_default_is_a_finding() {
    let scene = Scene::new();
    std::fs::write(scene.path("p.txt"), "{{ tone }}").unwrap();
    std::fs::write(scene.path("vars.yaml"), "# the voice\ntone:\n").unwrap();
    let done = scene.run(&["lint", "--vars", "vars.yaml", "p.txt"], &[]);
    assert_eq!(done.code(), Some(1));
    assert_eq!(
        done.stdout,
        "p.txt:1:4: template variable \"tone\" is declared without a default (vars.yaml:2:1); give it one, \"\" for empty\n"
    );
}

#[test]
fn inputs_that_cannot_be_read_exit_2_all_named_at_once() {
    let scene = Scene::new();
    std::fs::create_dir(scene.path("prompts")).unwrap();
    std::fs::write(scene.path("vars.yaml"), "ok: 1\nnot-a-name: 2\n").unwrap();
    let done = scene.run(
        &[
            "lint",
            "--vars",
            "vars.yaml",
            "prompts/*.j2",
            "missing.txt",
            "prompts",
        ],
        &[],
    );
    assert_eq!(done.code(), Some(2));
    assert_eq!(done.stdout, "");
    assert_eq!(
        done.stderr,
        "vars.yaml:2:1: `not-a-name` is not a variable name (letters, digits and _, not starting with a digit)\n\
         prompts/*.j2 matches no file\n\
         missing.txt does not exist\n\
         prompts is a directory; name its files, or a glob such as prompts/**/*.j2\n"
    );

    std::fs::write(scene.path("vars.yaml"), "a: [1\n").unwrap();
    std::fs::write(scene.path("prompts/p.txt"), "x").unwrap();
    let done = scene.run(&["lint", "--vars", "vars.yaml", "prompts/p.txt"], &[]);
    assert_eq!(done.code(), Some(2));
    assert_contains!(done.stderr, "vars.yaml:2:1: YAML syntax:");

    let done = scene.run(&["lint", "--vars", "var.yaml", "prompts/p.tx"], &[]);
    assert_eq!(done.code(), Some(2));
    assert_eq!(
        done.stderr,
        "vars file var.yaml does not exist (did you mean vars.yaml?)\n\
         prompts/p.tx does not exist (did you mean prompts/p.txt?)\n"
    );
}

#[test]
fn a_published_chat_template_lints_clean_with_its_special_tokens_declared() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prompts");
    let template = fixtures.join("llama-3.1-instruct.jinja");
    let template = template.to_str().unwrap();
    let vars = fixtures.join("vars.yaml");
    let scene = Scene::new();
    let done = scene.run(&["lint", "--vars", vars.to_str().unwrap(), template], &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stdout);
    assert_eq!(done.stdout, "");

    let done = scene.run(&["lint", template], &[]);
    assert_eq!(done.code(), Some(1));
    assert_eq!(
        done.stdout,
        format!("{template}:1:5: undeclared template variable \"bos_token\"\n")
    );
}

#[test]
fn a_prompt_check_fails_with_the_position_and_passes_once_the_name_is_declared() {
    let scene = Scene::new();
    std::fs::create_dir(scene.path("prompts")).unwrap();
    std::fs::write(
        scene.path("prompts/system.j2"),
        "You are {{ persona }}.\n{{ style | default('plain') }} {{ lenght }} {{ extra }}",
    )
    .unwrap();
    std::fs::write(scene.path("vars.yaml"), "persona: a helper\nlength: 100\n").unwrap();
    let config = scene.config(
        "checks:\n  prompts: {kind: prompt, paths: ['@/prompts/*.j2'], vars: '@/vars.yaml'}\n",
    );
    let config = config.to_str().unwrap();
    let dir = scene.dir.path().display().to_string();

    let done = scene.run(&["check", "--config", config], &[]);
    assert_eq!(done.code(), Some(1), "{}{}", done.stdout, done.stderr);
    assert_contains!(
        done.stdout,
        format!(
            "✖ prompts  2 undeclared template variables: {dir}/prompts/system.j2:2:35: undeclared template variable \"lenght\" (did you mean \"length\"?) (and 1 more)"
        )
    );

    let done = scene.init(
        "deadline: 30s\nchecks:\n  prompts: {kind: prompt, paths: ['@/prompts/*.j2'], vars: '@/vars.yaml', timeout: 200ms}\n",
        &[],
    );
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        format!("{dir}/prompts/system.j2:2:35: undeclared template variable \"lenght\"")
    );

    std::fs::write(
        scene.path("vars.yaml"),
        "persona: a helper\nlenght: 100\nextra: \"\"\n",
    )
    .unwrap();
    let done = scene.run(&["check", "--config", config], &[]);
    assert_eq!(done.code(), Some(0), "{}{}", done.stdout, done.stderr);
    assert_contains!(done.stdout, "✔ prompts  ");
    assert_contains!(done.stdout, "— 1 file, 4 placeholders");
}

/// Lays out a ConfigMap volume as the kubelet does, at generation `n`: the keys in a versioned
/// directory, `..data` pointing at it (swapped by a rename), and one symlink per key.
fn configmap(dir: &Path, files: &[(&str, &str)], n: u32) {
    use std::os::unix::fs::symlink;
    let versioned = format!("..2026_01_01_00_00_0{n}.000");
    std::fs::create_dir_all(dir.join(&versioned)).unwrap();
    for (key, text) in files {
        std::fs::write(dir.join(&versioned).join(key), text).unwrap();
    }
    symlink(&versioned, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    for (key, _) in files {
        if std::fs::symlink_metadata(dir.join(key)).is_err() {
            symlink(format!("..data/{key}"), dir.join(key)).unwrap();
        }
    }
}

#[test]
fn init_waits_for_a_configmap_fixed_in_place() {
    let scene = Scene::new();
    let volume = scene.path("prompts");
    configmap(
        &volume,
        &[
            ("chat.j2", "{{ user_nme }}"),
            ("vars.yaml", "user_name: x\n"),
        ],
        1,
    );
    let mut init = scene.spawn_init(
        "deadline: 30s\nchecks:\n  prompts: {kind: prompt, paths: ['@/prompts/**/*.j2'], vars: '@/prompts/vars.yaml'}\n",
        &[],
    );
    init.wait_for_line(
        "chat.j2:1:4: undeclared template variable \"user_nme\" (did you mean \"user_name\"?)",
    );
    configmap(
        &volume,
        &[
            ("chat.j2", "{{ user_name }}"),
            ("vars.yaml", "user_name: x\n"),
        ],
        2,
    );
    // Found once, though the volume holds it under `..data/` and the versioned directory too.
    init.wait_for_line("prompts passed (1 file, 1 placeholder)");
    let (status, _) = init.wait();
    assert_eq!(status.code(), Some(0), "{}", init.stderr());
}

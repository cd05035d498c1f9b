//! What each model server's preset expands to: how that server says it is loading, ready,
//! sleeping or dead, the query that proves it generates, and the check that it serves the
//! model asked for. Plain config, so `validate` can print it and a user can copy and change it;
//! `docs/presets.md` says where each signal comes from.

use std::time::Duration;

use super::{HeaderSource, JsonExpect, PulseSpec, QuerySpec, SleepSpec, Text};

/// The presets, as `preset:` takes them.
pub const NAMES: &[&str] = &[
    "vllm", "sglang", "tgi", "triton", "kserve", "llamacpp", "ollama", "nim", "openai",
];

/// Loading a large model from a network volume takes minutes.
const OLLAMA_LOAD: Duration = Duration::from_secs(600);

/// The query that proves the server generates: the one a given `queries`, `expect` or `body`
/// replaces.
pub const PRODUCTION: &str = "generate";
/// The query that checks the server serves the model named.
pub const MODELS: &str = "model";

/// A preset, expanded for one server and model.
pub struct Expansion {
    pub pulse: PulseSpec,
    /// The model check, then the production query.
    pub queries: Vec<QuerySpec>,
    pub sleep: Option<SleepSpec>,
    /// How long a round waits until the model first passed, where its first request loads it.
    pub load_timeout: Option<Duration>,
}

/// The preset named `name` for the server at `url` serving `model`; `None` for a name not in
/// [`NAMES`].
pub fn expand(name: &str, url: &Text, model: &Text) -> Option<Expansion> {
    let at = |path: &str| Text {
        written: format!("{}{path}", url.written.trim_end_matches('/')),
        value: format!("{}{path}", url.value.trim_end_matches('/')),
    };
    // The model as a path segment (v2 URLs name it), and as a JSON string (request bodies).
    let segment = |m: &str| format!("/v2/models/{}", path_segment(m));
    let v2 = Text {
        written: format!(
            "{}{}",
            url.written.trim_end_matches('/'),
            segment(&model.written)
        ),
        value: format!(
            "{}{}",
            url.value.trim_end_matches('/'),
            segment(&model.value)
        ),
    };
    let v2_at = |tail: &str| Text {
        written: format!("{}{tail}", v2.written),
        value: format!("{}{tail}", v2.value),
    };
    let pulse_v2_ready = format!("{}/ready", segment(&model.value));
    let openai_list = || listed(at("/v1/models"), "/data/*/id", &model.value);
    let completion = || {
        let body = with_model(
            r#"{"model":MODEL,"prompt":"Hi","max_tokens":1,"temperature":0}"#,
            model,
        );
        post(PRODUCTION, at("/v1/completions"), body, "/choices/0")
    };
    let mut sleep = None;
    let mut load_timeout = None;
    let (pulse, queries) = match name {
        // The HTTP server starts only once the engine is up (refused while loading); /health
        // answers 503 only for a dead engine, and stays 200 for a hung one.
        "vllm" => {
            sleep = Some(SleepSpec {
                url: at("/is_sleeping"),
                headers: Vec::new(),
                pointer: "/is_sleeping".into(),
                serves: false,
            });
            (
                pulse(Some("/health"), &[503], &[]),
                vec![openai_list(), completion()],
            )
        }
        // /health runs a generation itself: the cheap look is /get_model_info.
        "sglang" => (
            pulse(Some("/get_model_info"), &[], &[]),
            vec![openai_list(), loading(completion(), &[503])],
        ),
        // /health is 503 once a generation failed and the dummy batch that follows does too.
        "tgi" => {
            let mut info = get(MODELS, at("/info"));
            info.json = vec![("/model_id".into(), JsonExpect::Equals(model.value.clone()))];
            let body = r#"{"inputs":"Hi","parameters":{"max_new_tokens":1,"do_sample":false}}"#;
            (
                pulse(Some("/health"), &[503], &[]),
                vec![
                    info,
                    post(
                        PRODUCTION,
                        at("/generate"),
                        literal(body),
                        "/generated_text",
                    ),
                ],
            )
        }
        // Not ready is 400 here, not 503.
        "triton" => {
            let mut index = post(MODELS, at("/v2/repository/index"), literal("{}"), "");
            index.json = vec![("/*/name".into(), JsonExpect::Includes(model.value.clone()))];
            (
                pulse(Some(&pulse_v2_ready), &[], &[400]),
                vec![index, v2_infer(v2_at("/infer"))],
            )
        }
        "kserve" => (
            pulse(Some(&pulse_v2_ready), &[], &[503]),
            vec![
                listed(at("/v2/models"), "/models/*", &model.value),
                v2_infer(v2_at("/infer")),
            ],
        ),
        // /health answers 503 "Loading model" while loading; `/props` says whether it sleeps,
        // and a request wakes it: a sleeping llama-server still serves.
        "llamacpp" => {
            sleep = Some(SleepSpec {
                url: at("/props"),
                headers: Vec::new(),
                pointer: "/is_sleeping".into(),
                serves: true,
            });
            (
                pulse(Some("/health"), &[], &[503]),
                vec![openai_list(), loading(completion(), &[503])],
            )
        }
        // Ollama loads a model on its first request, and gives the load up when that request
        // is given up on: the first rounds wait as long as a load takes. Tags carry a `:latest`
        // when none is given.
        "ollama" => {
            load_timeout = Some(OLLAMA_LOAD);
            let tag = tagged(&model.value);
            let tagged_model = Text {
                written: tagged(&model.written),
                value: tag.clone(),
            };
            let body = with_model(
                r#"{"model":MODEL,"prompt":"Hi","stream":false,"options":{"num_predict":1,"temperature":0}}"#,
                &tagged_model,
            );
            let mut generate = post(PRODUCTION, at("/api/generate"), body, "");
            generate.json = vec![("/done".into(), JsonExpect::Equals("true".into()))];
            (
                pulse(None, &[], &[]),
                vec![listed(at("/api/tags"), "/models/*/name", &tag), generate],
            )
        }
        // /v1/health/live is nginx's; /v1/health/ready is the engine's, 503 while it loads.
        "nim" => (
            pulse(Some("/v1/health/ready"), &[], &[503]),
            vec![openai_list(), loading(completion(), &[503])],
        ),
        "openai" => (pulse(None, &[], &[]), vec![openai_list(), completion()]),
        _ => return None,
    };
    Some(Expansion {
        pulse,
        queries,
        sleep,
        load_timeout,
    })
}

fn pulse(path: Option<&str>, fatal: &[u16], loading: &[u16]) -> PulseSpec {
    PulseSpec {
        every: Duration::from_secs(1),
        path: path.map(str::to_string),
        fatal_status: fatal.to_vec(),
        loading_status: loading.to_vec(),
    }
}

fn get(name: &str, url: Text) -> QuerySpec {
    QuerySpec::new(name, "GET", url)
}

/// A JSON POST whose answer must have something at `answer` (nothing is checked for "").
fn post(name: &str, url: Text, body: Text, answer: &str) -> QuerySpec {
    let mut query = get(name, url);
    query.method = "POST".into();
    query.body = Some(body);
    query.headers = vec![(
        "Content-Type".into(),
        HeaderSource::Text(literal("application/json")),
    )];
    if !answer.is_empty() {
        query.json = vec![(answer.into(), JsonExpect::Exists(true))];
    }
    query
}

/// A list of served models that must include `model`.
fn listed(url: Text, pointer: &str, model: &str) -> QuerySpec {
    let mut query = get(MODELS, url);
    query.json = vec![(pointer.into(), JsonExpect::Includes(model.into()))];
    query
}

fn loading(mut query: QuerySpec, statuses: &[u16]) -> QuerySpec {
    query.loading_status = statuses.to_vec();
    query
}

fn v2_infer(url: Text) -> QuerySpec {
    let mut query = post(PRODUCTION, url, literal(""), "/outputs/0");
    query.body = None;
    query.body_from_v2_metadata = true;
    query
}

fn literal(text: &str) -> Text {
    Text {
        written: text.into(),
        value: text.into(),
    }
}

/// `template` with `MODEL` as the model's JSON string, as written and as used.
fn with_model(template: &str, model: &Text) -> Text {
    let quoted = |m: &str| serde_json::Value::String(m.into()).to_string();
    Text {
        written: template.replace("MODEL", &quoted(&model.written)),
        value: template.replace("MODEL", &quoted(&model.value)),
    }
}

/// Ollama's name for a model given without a tag.
fn tagged(model: &str) -> String {
    if model.contains(':') || model.is_empty() {
        model.to_string()
    } else {
        format!("{model}:latest")
    }
}

/// A model name as one URL path segment: a `/` in a Hugging Face id, a space or a `%` would
/// change what the path says.
pub fn path_segment(model: &str) -> String {
    let mut out = String::with_capacity(model.len());
    for byte in model.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'$'
            | b'{'
            | b'}'
            | b':'
            | b'@' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Text {
        literal(s)
    }

    #[test]
    fn every_preset_expands_to_a_model_check_and_a_production_query() {
        for name in NAMES {
            let e = expand(name, &text("http://127.0.0.1:8000/"), &text("llama")).unwrap();
            let names: Vec<&str> = e.queries.iter().map(|q| q.name.as_str()).collect();
            assert_eq!(names, [MODELS, PRODUCTION], "{name}");
            for q in &e.queries {
                assert!(
                    q.url.value.starts_with("http://127.0.0.1:8000/")
                        && !q.url.value.contains("//v"),
                    "{name}: {}",
                    q.url.value
                );
                if let Some(body) = &q.body {
                    serde_json::from_str::<serde_json::Value>(&body.value)
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                }
            }
        }
        assert!(expand("vlm", &text("http://x"), &text("m")).is_none());
    }

    #[test]
    fn a_model_name_is_quoted_in_bodies_and_encoded_in_paths() {
        let e = expand(
            "triton",
            &text("http://h:8000"),
            &text("meta-llama/Llama 3"),
        )
        .unwrap();
        assert_eq!(
            e.queries[1].url.value,
            "http://h:8000/v2/models/meta-llama%2FLlama%203/infer"
        );
        assert_eq!(
            e.pulse.path.as_deref(),
            Some("/v2/models/meta-llama%2FLlama%203/ready")
        );
        let e = expand("vllm", &text("http://h:8000"), &text(r#"a"b"#)).unwrap();
        let body = &e.queries[1].body.as_ref().unwrap().value;
        assert!(body.contains(r#""model":"a\"b""#), "{body}");
    }

    #[test]
    fn ollama_names_carry_a_tag() {
        let e = expand("ollama", &text("http://h:11434"), &text("llama3")).unwrap();
        assert_eq!(
            e.queries[0].json,
            [(
                "/models/*/name".into(),
                JsonExpect::Includes("llama3:latest".into())
            )]
        );
        assert!(
            e.queries[1]
                .body
                .as_ref()
                .unwrap()
                .value
                .contains("\"llama3:latest\"")
        );
    }
}

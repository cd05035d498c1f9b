//! A KServe v2 inference request built from the model's own metadata: one tensor for each
//! input it declares, of its type and shape, filled with zeros. The protocol has no request
//! that fits every model, and the metadata says what this one takes.

use serde_json::{Value, json};

use crate::checks::http::{Outgoing, fetch, quote_answer};
use crate::config::QuerySpec;
use crate::heartbeat::Heartbeat;
use crate::redact::Redactor;

use super::super::model::Seen;

/// A model's metadata is a few hundred bytes; this leaves room for many inputs.
const METADATA_MAX: u64 = 256 * 1024;
/// The most values the built inputs may hold together; a model whose inputs are larger needs a
/// `body`.
const MAX_VALUES: u64 = 4096;

/// The body of the inference at `query.url`, from the metadata at that URL less `/infer`.
pub async fn inference_body(
    query: &QuerySpec,
    headers: &[(&str, &str)],
    redactor: &Redactor,
) -> Result<String, Seen> {
    let url = query.url.value.trim_end_matches('/');
    let url = url.strip_suffix("/infer").unwrap_or(url);
    let request = Outgoing {
        url,
        method: "GET",
        headers,
        body: None,
    };
    let heartbeat = Heartbeat::default();
    let answer = fetch(&request, &heartbeat)
        .await
        .map_err(super::unanswered)?;
    let status = answer.status;
    if !(200..300).contains(&status) {
        let excerpt = quote_answer(answer, redactor, &heartbeat).await;
        let why = format!("the model's metadata: status {status}: {excerpt}");
        return Err(if query.loading_status.contains(&status) {
            Seen::Loading(why)
        } else {
            Seen::Failed(why)
        });
    }
    let body = answer
        .whole(METADATA_MAX, &heartbeat)
        .await
        .map_err(|e| Seen::Failed(format!("the model's metadata: {e}")))?;
    let metadata: Value = serde_json::from_slice(&body)
        .map_err(|e| Seen::Failed(format!("the model's metadata is not JSON ({e})")))?;
    build(&metadata)
        .map(|b| b.to_string())
        .map_err(|why| Seen::Failed(format!("the model's metadata: {why}")))
}

/// `{"inputs": [{"name", "datatype", "shape", "data"}…]}` for the inputs `metadata` declares;
/// a dimension of -1 (any size) is 1.
fn build(metadata: &Value) -> Result<Value, String> {
    let Some(inputs) = metadata
        .get("inputs")
        .and_then(Value::as_array)
        .filter(|inputs| !inputs.is_empty())
    else {
        return Err("it lists no inputs: give the sentinel a `body`".into());
    };
    let mut tensors = Vec::new();
    let mut total = 0u64;
    for input in inputs {
        let name = input
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let datatype = input
            .get("datatype")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let shown = crate::echo::capped(name, 80);
        let shape: Vec<u64> = input
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("input `{shown}` has no shape"))?
            .iter()
            .map(|d| match d.as_i64() {
                Some(-1) => Ok(1),
                Some(n) if n >= 0 => Ok(n as u64),
                _ => Err(format!("input `{shown}` has a shape that is not sizes")),
            })
            .collect::<Result<_, _>>()?;
        let count = shape
            .iter()
            .try_fold(1u64, |n, d| n.checked_mul(*d))
            .filter(|n| total.saturating_add(*n) <= MAX_VALUES)
            .ok_or_else(|| {
                format!("its inputs take over {MAX_VALUES} values: give the sentinel a `body`")
            })?;
        total += count;
        let zero = match datatype {
            "BOOL" => json!(false),
            "BYTES" => json!(""),
            "FP32" | "FP64" | "INT8" | "INT16" | "INT32" | "INT64" | "UINT8" | "UINT16"
            | "UINT32" | "UINT64" => json!(0),
            // Triton and KServe take FP16 and BF16 only as binary data, never in JSON.
            _ => {
                return Err(format!(
                    "input `{shown}` has the type `{}`, which JSON cannot carry: give the sentinel a `body`",
                    crate::echo::capped(datatype, 40)
                ));
            }
        };
        tensors.push(json!({
            "name": name,
            "datatype": datatype,
            "shape": shape,
            "data": vec![zero; count as usize],
        }));
    }
    Ok(json!({ "inputs": tensors }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_zeros_of_their_declared_shape() {
        let metadata = json!({"name": "m", "inputs": [
            {"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]},
            {"name": "flag", "datatype": "BOOL", "shape": [1]},
        ]});
        assert_eq!(
            build(&metadata).unwrap(),
            json!({"inputs": [
                {"name": "INPUT0", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 0, 0]},
                {"name": "flag", "datatype": "BOOL", "shape": [1], "data": [false]},
            ]})
        );
    }

    #[test]
    fn a_huge_or_unknown_input_is_refused_by_name() {
        let huge =
            json!({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3, 224, 224]}]});
        assert!(
            build(&huge)
                .unwrap_err()
                .contains("give the sentinel a `body`")
        );
        let overflow =
            json!({"inputs": [{"name": "x", "datatype": "FP32", "shape": [u64::MAX, 2]}]});
        assert!(build(&overflow).is_err());
        let odd = json!({"inputs": [{"name": "x", "datatype": "FP4E2", "shape": [1]}]});
        assert!(build(&odd).is_err());
        assert!(
            build(&json!({"name": "m"}))
                .unwrap_err()
                .contains("no inputs")
        );
    }
}

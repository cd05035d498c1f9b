use super::base64::tests::encode;
use super::*;

const TOKEN: &str = "tok+en/Q7x=9z";

fn percent_encode(text: &str, upper: bool) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ if upper => format!("%{b:02X}"),
            _ => format!("%{b:02x}"),
        })
        .collect()
}

fn json_u_escape(text: &str) -> String {
    text.chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect()
}

#[test]
fn hides_values_added_late_and_nested_ones_whole() {
    let r = Redactor::new(["abc".to_string()]);
    r.add("xxabcxx".into());
    assert_eq!(
        r.clean("token=xxabcxx or abc"),
        "token=[redacted] or [redacted]"
    );
}

#[test]
fn excerpt_redacts_before_cutting() {
    let secret = "s".repeat(10);
    let r = Redactor::new([secret.clone()]);
    let text = format!("{}{}", "a".repeat(EXCERPT_LIMIT - 5), secret);
    let out = r.excerpt(&text);
    assert!(!out.contains("sssss"), "{out}");
}

#[test]
fn secrets_spanning_lines_or_runs_of_spaces_are_hidden_before_flattening() {
    let r = Redactor::new(["line-one-secret\nline-two-secret".to_string()]);
    r.add("two  spaces  secret".into());
    let out = r.excerpt("a line-one-secret\nline-two-secret b two  spaces  secret c");
    assert_eq!(out, "a [redacted] b [redacted] c");
    assert_eq!(
        r.excerpt("only line-two-secret quoted"),
        "only [redacted] quoted"
    );
}

#[test]
fn secrets_escaped_inside_json_are_hidden_too() {
    let r = Redactor::new(["tok/en\"x".to_string()]);
    assert_eq!(
        r.clean(r#"{"echo":"tok\/en\"x"}"#),
        r#"{"echo":"[redacted]"}"#
    );
    assert_eq!(
        r.clean(r#"{"echo":"tok/en\"x"}"#),
        r#"{"echo":"[redacted]"}"#
    );
}

#[test]
fn every_encoding_of_a_secret_is_hidden() {
    let r = Redactor::new([TOKEN.to_string()]);
    let basic = |pad| encode(format!("user:{TOKEN}").as_bytes(), pad);
    let forms = [
        TOKEN.to_string(),
        TOKEN.replace('+', " "),
        percent_encode(TOKEN, true),
        percent_encode(TOKEN, false),
        json_u_escape(TOKEN),
        // Mixed: half percent-encoded, half JSON-escaped.
        format!(
            "{}{}",
            percent_encode(&TOKEN[..5], true),
            json_u_escape(&TOKEN[5..])
        ),
        // Twice encoded.
        percent_encode(&percent_encode(TOKEN, true), true),
        encode(TOKEN.as_bytes(), true),
        basic(true),
        basic(false),
        basic(true).replace('+', "-").replace('/', "_"),
        // A base64 value inside a percent-encoded query.
        percent_encode(&basic(true), true),
        format!("Authorization: Basic {}", basic(true)),
    ];
    for form in forms {
        let text = format!("before {form} after");
        let cleaned = r.clean(&text);
        assert!(
            cleaned.starts_with("before ") && cleaned.ends_with(" after"),
            "{form}: {cleaned}"
        );
        assert!(cleaned.contains(REDACTED), "{form} shown: {cleaned}");
        assert!(!cleaned.contains("Q7x"), "{form}: {cleaned}");
    }
}

#[test]
fn a_value_with_surrounding_whitespace_is_hidden_trimmed_too() {
    let r = Redactor::new(["  padded-secret \n".to_string()]);
    assert_eq!(r.clean("echo: padded-secret."), "echo: [redacted].");
    // Too short once trimmed to hide on its own.
    let r = Redactor::new(["ab  ".to_string()]);
    assert_eq!(r.clean("ab"), "ab");
}

#[test]
fn text_without_secrets_or_escapes_is_left_alone() {
    let r = Redactor::new([TOKEN.to_string()]);
    for text in [
        "plain",
        "100% sure + \\ not a secret",
        "dG9rK2Vu other base64",
        "",
    ] {
        assert_eq!(r.clean(text), text);
    }
}

#[test]
fn control_characters_are_written_out() {
    let r = Redactor::default();
    let forged = "boom\x1b[1A\x1b[2K\u{9b}✔ gate passed\u{202e}dessap\x08\x07\x7f";
    let out = r.excerpt(forged);
    assert_eq!(
        out,
        "boom\\u{1b}[1A\\u{1b}[2K\\u{9b}✔ gate passed\\u{202e}dessap\\u{8}\\u{7}\\u{7f}"
    );
    // A carriage return or a line separator rewrites a line: flattened in an excerpt...
    assert_eq!(r.excerpt("a\rb\u{2028}c"), "a b c");
    // ...written out in clean text, where line breaks and tabs stay.
    assert_eq!(r.clean("a\r\n\tb\u{2028}"), "a\\r\n\tb\\u{2028}");
}

#[test]
fn json_stays_json() {
    let r = Redactor::new(["9000".to_string(), "passed".to_string()]);
    let mut v = serde_json::json!({"deadline_ms": 9000, "outcome": "passed", "err": "port 9000"});
    r.clean_json(&mut v);
    assert_eq!(
        v,
        serde_json::json!({"deadline_ms": 9000, "outcome": "[redacted]", "err": "port [redacted]"})
    );
}

#[test]
fn excerpt_flattens_whitespace_and_respects_char_boundaries() {
    let r = Redactor::default();
    assert_eq!(r.excerpt("a\n\n b"), "a b");
    let long = "é".repeat(EXCERPT_LIMIT);
    assert!(r.excerpt(&long).ends_with('…'));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_secret_cut_at_either_end_of_a_window_is_not_shown_in_part() {
    let secret = "0123456789abcdefghijklmn";
    let r = Redactor::new([secret.to_string()]);
    let rt = runtime();
    // Whitespace flattens away, so a cut far into the text would reach the excerpt.
    let head = format!("{} {}{}", "x".repeat(200), " ".repeat(100), &secret[..16]);
    let shown = rt.block_on(r.outside(head.as_bytes(), End::Head, true));
    assert!(!r.excerpt(&shown).contains("0123"), "{shown:?}");
    let tail = format!("{} done {}", &secret[8..], "y".repeat(200));
    let shown = rt.block_on(r.outside(tail.as_bytes(), End::Tail, true));
    assert!(!shown.contains("mn") && shown.ends_with('y'), "{shown:?}");
    // Uncut, or whole, text stays.
    let whole = format!("a {secret} b");
    let shown = rt.block_on(r.outside(whole.as_bytes(), End::Head, false));
    assert_eq!(shown, "a [redacted] b");
    // A percent-encoded secret cut in half: the reach covers its longer form.
    let encoded: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
    let head = format!("{} {}", "x".repeat(200), &encoded[..60]);
    let shown = rt.block_on(r.outside(head.as_bytes(), End::Head, true));
    assert!(!shown.contains('%') && shown.starts_with('x'), "{shown:?}");
}

#[test]
fn a_long_text_is_windowed_at_the_end_it_quotes() {
    let r = Redactor::new(["secret-value".to_string()]);
    let rt = runtime();
    let text = format!("first {} last", "x".repeat(3 * WINDOW));
    let head = rt.block_on(r.outside(text.as_bytes(), End::Head, false));
    assert!(head.starts_with("first ") && head.len() <= WINDOW + r.reach());
    let tail = rt.block_on(r.outside(text.as_bytes(), End::Tail, false));
    assert!(tail.ends_with(" last") && tail.len() <= WINDOW + r.reach());
}

/// Values appear only after `reveal` is set, as a Secret volume filled late.
struct Late {
    reveal: std::sync::mpsc::Receiver<String>,
}

impl Source for Late {
    fn changed(&mut self) -> Vec<String> {
        self.reveal.try_iter().collect()
    }
}

#[test]
fn a_followed_source_is_asked_before_outside_text_is_shown() {
    let (tx, rx) = std::sync::mpsc::channel();
    let r = Redactor::default();
    r.follow(Late { reveal: rx });
    let rt = runtime();
    assert_eq!(
        rt.block_on(r.outside(b"late-canary-1234", End::Tail, false)),
        "late-canary-1234"
    );
    tx.send("late-canary-1234".to_string()).unwrap();
    assert_eq!(
        rt.block_on(r.outside(b"cat: late-canary-1234", End::Tail, false)),
        "cat: [redacted]"
    );
}

/// Blocks until released, as a read on a hung network mount does.
struct Hung {
    release: std::sync::mpsc::Receiver<()>,
}

impl Source for Hung {
    fn changed(&mut self) -> Vec<String> {
        let _ = self.release.recv();
        Vec::new()
    }
}

#[test]
fn a_hung_source_withholds_outside_text_and_later_callers_wait_on_the_same_ask() {
    let (release, rx) = std::sync::mpsc::channel();
    let r = Redactor::default();
    r.follow(Hung { release: rx });
    let rt = runtime();
    let shown = rt.block_on(async {
        let (a, b) = tokio::join!(
            r.outside(b"maybe a secret", End::Tail, false),
            r.outside(b"maybe another", End::Tail, false)
        );
        [a, b]
    });
    for text in shown {
        assert!(text.starts_with("[withheld"), "{text}");
    }
    // The second caller asked while the first ask hung: one more ask follows it, then a
    // third for the next caller.
    for _ in 0..3 {
        release.send(()).unwrap();
    }
    let shown = rt.block_on(r.outside(b"now shown", End::Tail, false));
    assert_eq!(shown, "now shown");
}

/// xorshift: enough spread for inputs, the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn no_input_makes_the_normaliser_panic_and_decoded_spans_stay_in_bounds() {
    // Bytes that escapes are made of, so malformed and partial escapes are common.
    const ALPHABET: &[u8] = b"%+\\u\"/0123456789abcdefABCDEFdDxX=_- \n\x1b\xc3\xa9\xff";
    let r = Redactor::new([TOKEN.to_string(), "ab\ncdefghij\nklmnopqr".to_string()]);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = rng.below(64);
        let bytes: Vec<u8> = (0..len)
            .map(|_| match rng.below(4) {
                0 => rng.next() as u8,
                _ => ALPHABET[rng.below(ALPHABET.len())],
            })
            .collect();
        for layer in decode::layers(&bytes) {
            for i in 0..layer.bytes.len() {
                let span = layer.source(i..i + 1);
                assert!(
                    span.start < span.end && span.end <= bytes.len(),
                    "{bytes:?}"
                );
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = r.clean(&text);
        let _ = r.excerpt(&text);
    }
}

#[test]
fn a_secret_in_random_surroundings_and_forms_is_always_hidden() {
    let r = Redactor::new([TOKEN.to_string()]);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let noise = |rng: &mut Rng| -> String {
        (0..rng.below(12))
            .map(|_| b"ab%+\\=/ \"9Z"[rng.below(11)] as char)
            .collect()
    };
    for _ in 0..5_000 {
        let form = match rng.below(5) {
            0 => TOKEN.to_string(),
            1 => percent_encode(TOKEN, rng.below(2) == 0),
            2 => json_u_escape(TOKEN),
            3 => encode(
                format!("{}{TOKEN}", noise(&mut rng)).as_bytes(),
                rng.below(2) == 0,
            ),
            _ => TOKEN.replace('+', " "),
        };
        let text = format!("{}{form}{}", noise(&mut rng), noise(&mut rng));
        let cleaned = r.clean(&text);
        assert!(!cleaned.contains("Q7x"), "{text} -> {cleaned}");
        assert!(!cleaned.contains(&form), "{text} -> {cleaned}");
    }
}

#[test]
fn a_secret_of_many_short_lines_is_learnt_in_linear_time() {
    // A Kubernetes Secret's 1 MiB in 8-character lines, each a form of its own: comparing every
    // new form with all the others would take minutes.
    let mut rng = Rng(7);
    let lines: Vec<String> = (0..(1 << 20) / 9)
        .map(|_| {
            (0..8)
                .map(|_| (b'A' + rng.below(26) as u8) as char)
                .collect()
        })
        .collect();
    let started = std::time::Instant::now();
    let r = Redactor::new([lines.join("\n")]);
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    assert_eq!(r.clean(&format!("echo {}", lines[1000])), "echo [redacted]");
}

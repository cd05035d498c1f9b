//! Human units in the config: durations (`90s`, `1m30s`, `250ms`) and sizes (`512MiB`, `1GB`).

use std::time::Duration;

use crate::echo;

/// Nothing bootgate waits for is worth a year; past that, arithmetic on instants overflows.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses `500ms`, `90s`, `10m`, `1h`, `1h30m`. A bare number is refused: `timeout: 30` could
/// mean seconds or milliseconds, and guessing wrong is a silent outage. What people write
/// instead (`5 minutes`, `2 hours`, `1h 30m`) is refused with the spelling that works.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let shown = echo::value(text);
    if text.is_empty() {
        return Err("empty duration; write e.g. 90s, 10m, 500ms".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{shown}` has no unit; write {shown}s or {shown}ms"
        ));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let not_a_duration = || match respelled(text) {
            Some(fixed) => format!("`{shown}` is not a duration; write {fixed}"),
            None => format!("`{shown}` is not a duration; write e.g. 90s, 10m, 500ms"),
        };
        if digits == 0 {
            return Err(not_a_duration());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| not_a_duration())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let seconds_per_unit = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("`{shown}` ends without a unit (ms, s, m, h)")),
            other => {
                return Err(match respelled(text) {
                    Some(fixed) if matches!(other.trim(), "ms" | "s" | "m" | "h") => {
                        format!("`{shown}` has a space in it; write {fixed}")
                    }
                    Some(fixed) => format!(
                        "unknown duration unit `{}` in `{shown}`; write {fixed}",
                        echo::value(other.trim())
                    ),
                    None => format!(
                        "unknown duration unit `{}` in `{shown}`; use ms, s, m or h",
                        echo::value(other.trim())
                    ),
                });
            }
        };
        rest = &rest[unit_len..];
        let part = Duration::try_from_secs_f64(number * seconds_per_unit)
            .map_err(|_| format!("`{shown}` is out of range"))?;
        total = total.saturating_add(part);
    }
    if total > MAX_DURATION {
        return Err(format!(
            "`{shown}` is longer than a year; nothing is worth waiting that long"
        ));
    }
    Ok(total)
}

/// `text` written the way [`parse_duration`] reads it, when each part is a number and a unit
/// people commonly write: `5 minutes` → `5m`, `1 hour 30 mins` → `1h30m`, `2 days` → `48h`.
fn respelled(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        number.parse::<f64>().ok()?;
        rest = rest[digits..].trim_start();
        let word_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let word = rest[..word_len].to_ascii_lowercase();
        rest = rest[word_len..].trim_start_matches([' ', ',']);
        rest = rest.strip_prefix("and ").unwrap_or(rest).trim_start();
        let unit = match word.as_str() {
            "ms" | "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => "ms",
            "s" | "sec" | "secs" | "second" | "seconds" => "s",
            "m" | "min" | "mins" | "minute" | "minutes" => "m",
            "h" | "hr" | "hrs" | "hour" | "hours" => "h",
            // Days are no unit here; whole hours say the same.
            "d" | "day" | "days" => {
                let days = number.parse::<u32>().ok()?;
                out.push_str(&format!("{}h", days.checked_mul(24)?));
                continue;
            }
            _ => return None,
        };
        out.push_str(number);
        out.push_str(unit);
    }
    (!out.is_empty()).then_some(out)
}

/// Parses `4096`, `512KiB`, `1GiB`, `2GB`: binary units are powers of 1024, decimal of 1000.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| {
        format!(
            "`{}` is not a size; write e.g. 512MiB, 1GiB, 4096",
            echo::value(text)
        )
    })?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit `{}` in `{}`; use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB",
                echo::value(other),
                echo::value(text)
            ));
        }
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("`{}` is out of range", echo::value(text)));
    }
    Ok(bytes as u64)
}

/// Milliseconds read from a file or a peer (status.json, a guard's JSON) as a duration, whatever
/// the number: a negative or NaN one is none, an absurd one the longest there is. The standard
/// conversion panics on both.
pub fn millis_lossy(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1e3).unwrap_or(if ms > 0.0 {
        Duration::MAX
    } else {
        Duration::ZERO
    })
}

/// Renders a duration the way a person reads a log: `850ms`, `12.3s`, `4m05s`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        if d.as_micros() < 1_000 {
            return format!("{:.2}ms", d.as_secs_f64() * 1_000.0);
        }
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let secs = d.as_secs();
    if secs < 3_600 {
        return format!("{}m{:02}s", secs / 60, secs % 60);
    }
    format!("{}h{:02}m", secs / 3_600, (secs % 3_600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_number_of_milliseconds_is_a_duration() {
        assert_eq!(millis_lossy(1500.0), Duration::from_millis(1500));
        assert_eq!(millis_lossy(-5.0), Duration::ZERO);
        assert_eq!(millis_lossy(f64::NAN), Duration::ZERO);
        assert_eq!(millis_lossy(1e300), Duration::MAX);
        assert_eq!(millis_lossy(f64::INFINITY), Duration::MAX);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("5x")
                .unwrap_err()
                .contains("unknown duration unit")
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1e400s").is_err());
        assert!(parse_duration("10000000000000000000s10000000000000000000s").is_err());
        assert!(parse_duration("400d").is_err());
        assert!(
            parse_duration("9000h")
                .unwrap_err()
                .contains("longer than a year")
        );
    }

    #[test]
    fn durations_in_words_are_respelled() {
        let said = |text: &str| parse_duration(text).unwrap_err();
        assert_eq!(
            said("5 minutes"),
            "unknown duration unit `minutes` in `5 minutes`; write 5m"
        );
        assert!(said("1 hour, 30 seconds").ends_with("write 1h30s"));
        assert!(said("1h and 30min").ends_with("write 1h30m"));
        assert!(said("250 msec").ends_with("write 250ms"));
        assert!(said("3 Days").ends_with("write 72h"));
        assert_eq!(said("10 s"), "`10 s` has a space in it; write 10s");
        // Nothing to respell: the units are listed instead.
        assert!(said("5 fortnights").ends_with("use ms, s, m or h"));
        assert!(said("1.5 days").ends_with("use ms, s, m or h"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(
            parse_size("1GiG")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn human() {
        assert_eq!(human_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(human_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(human_duration(Duration::from_secs(245)), "4m05s");
    }
}

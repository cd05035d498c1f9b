//! Credentials written into a URL (`http://user:pass@host/`). They are sent as curl sends them,
//! percent-decoded in an `Authorization: Basic` header, and never anywhere else: not in the
//! `Host` header, not in a reason, not in a log line.

use crate::encoding::{base64, percent_decoded};
use crate::redact::REDACTED;

/// The URL as it may be shown: its userinfo replaced whole, since a user name can be a token
/// too. Works on a URL as written, `${VAR}`s and all, and on one that is not valid.
pub fn masked(url: &str) -> String {
    match userinfo_span(url) {
        Some((start, end)) => format!("{}{REDACTED}{}", &url[..start], &url[end..]),
        None => url.to_string(),
    }
}

/// `Basic base64(user:password)`, each part percent-decoded; a user name alone is sent with
/// an empty password.
pub fn basic_authorization(url: &str) -> Option<String> {
    Some(format!("Basic {}", base64(&credentials(url)?)))
}

/// The forms of a URL's credentials a server could echo back: the password (or a user name
/// alone, which is then the token) as written and decoded, and the base64 of the Basic
/// credential.
pub fn secrets(url: &str) -> Vec<String> {
    let Some((start, end)) = userinfo_span(url) else {
        return Vec::new();
    };
    let userinfo = &url[start..end];
    let secret = userinfo
        .split_once(':')
        .map_or(userinfo, |(_, password)| password);
    let mut out = vec![
        secret.to_string(),
        String::from_utf8_lossy(&percent_decoded(secret, false)).into_owned(),
    ];
    out.extend(credentials(url).map(|pair| base64(&pair)));
    out.retain(|s| !s.is_empty());
    out.dedup();
    out
}

/// `user:password` decoded; the split is at the first `:` as written, so an encoded `%3A`
/// stays part of the user name.
fn credentials(url: &str) -> Option<Vec<u8>> {
    let (start, end) = userinfo_span(url)?;
    let (user, password) = url[start..end]
        .split_once(':')
        .unwrap_or((&url[start..end], ""));
    let mut pair = percent_decoded(user, false);
    pair.push(b':');
    pair.extend(percent_decoded(password, false));
    Some(pair)
}

/// Where the userinfo lies, without its `@`: the authority runs from after `://` (or the start)
/// to the first `/`, `?` or `#`, and the userinfo to its last `@`.
fn userinfo_span(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://").map_or(0, |at| at + 3);
    let authority = url[start..]
        .find(['/', '?', '#'])
        .map_or(&url[start..], |end| &url[start..start + end]);
    authority.rfind('@').map(|at| (start, start + at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_masked_whole_wherever_it_is_written() {
        assert_eq!(
            masked("http://user:${PASS}@127.0.0.1:8000/x?y=1"),
            "http://[redacted]@127.0.0.1:8000/x?y=1"
        );
        assert_eq!(masked("http://tok@h/"), "http://[redacted]@h/");
        // An unencoded `@` in the password: everything up to the last one is userinfo.
        assert_eq!(masked("http://u:p@ss@h/"), "http://[redacted]@h/");
        assert_eq!(masked("htp://u:pw@h"), "htp://[redacted]@h");
        assert_eq!(masked("u:pw@h:1/"), "[redacted]@h:1/");
        // An `@` past the authority is no userinfo.
        assert_eq!(masked("http://h/a@b?c=d@e"), "http://h/a@b?c=d@e");
        assert_eq!(masked("http://h:1"), "http://h:1");
    }

    #[test]
    fn basic_credentials_are_percent_decoded_like_curl() {
        assert_eq!(
            basic_authorization("http://Aladdin:open%20sesame@h/"),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".into())
        );
        // An encoded `:` belongs to the user name; a bad escape is kept as written.
        assert_eq!(
            credentials("http://a%3Ab:c%zz%4@h/"),
            Some(b"a:b:c%zz%4".to_vec())
        );
        assert_eq!(credentials("http://user@h/"), Some(b"user:".to_vec()));
        assert_eq!(credentials("http://h/?u=a@b"), None);
        assert_eq!(basic_authorization("http://h:80/"), None);
    }

    #[test]
    fn secrets_cover_what_a_server_could_echo() {
        assert_eq!(
            secrets("http://u:p%40ss@h/"),
            ["p%40ss", "p@ss", "dTpwQHNz"]
        );
        assert_eq!(secrets("http://t%40k@h/"), ["t%40k", "t@k", "dEBrOg=="]);
        assert_eq!(secrets("http://u:@h/"), ["dTo="]);
        assert!(secrets("http://h/").is_empty());
    }
}

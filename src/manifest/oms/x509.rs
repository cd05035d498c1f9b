//! X.509 certificates (RFC 5280), read for what a chain check needs: the signed part and its
//! signature, the names, the validity period, the key, and the extensions that constrain use.

use super::der::{self, Malformed, Reader};
use super::ecdsa::Hash;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("it is not a DER X.509 certificate ({0})")]
    Malformed(&'static str),
    #[error("it has the extension {0} twice")]
    DuplicateExtension(String),
}

/// How a certificate is signed by its issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    Ecdsa(Hash),
    RsaPkcs1(Hash),
    /// Named for the message that refuses it.
    Unsupported(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicConstraints {
    pub ca: bool,
    pub path_len: Option<u64>,
}

/// Key usage bits (RFC 5280 §4.2.1.3) that the chain check reads.
pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
pub const KEY_CERT_SIGN: u16 = 1 << 5;

pub struct Certificate<'a> {
    /// The DER `tbsCertificate`, what the issuer signed.
    pub tbs: &'a [u8],
    pub algorithm: SignatureAlgorithm,
    pub signature: &'a [u8],
    /// The DER names, compared byte for byte.
    pub issuer: &'a [u8],
    pub subject: &'a [u8],
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// The DER SubjectPublicKeyInfo.
    pub spki: &'a [u8],
    pub basic_constraints: Option<BasicConstraints>,
    pub key_usage: Option<u16>,
    /// Whether the extended key usage lists codeSigning, when it is there.
    pub code_signing: Option<bool>,
    /// The first critical extension that is not read here, named.
    pub unknown_critical: Option<String>,
    /// Whether an extension of Sigstore's Fulcio CA is there (OID arc 1.3.6.1.4.1.57264.1).
    pub fulcio: bool,
}

const ECDSA_WITH: [u8; 7] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
const PKCS1: [u8; 8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const EXTENDED_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
const FULCIO: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01];
/// Extensions a verifier may meet marked critical and still understand, as OpenSSL does with
/// no policy or host to check: key identifiers, alternative names, policies.
const UNDERSTOOD: [&[u8]; 4] = [
    &[0x55, 0x1d, 0x0e],
    &[0x55, 0x1d, 0x23],
    &[0x55, 0x1d, 0x11],
    &[0x55, 0x1d, 0x20],
];

pub fn parse(der: &[u8]) -> Result<Certificate<'_>, CertError> {
    let at = |part: &'static str| move |_: Malformed| CertError::Malformed(part);
    let mut outer = Reader::new(der);
    let mut certificate = outer.sequence().map_err(at("certificate"))?;
    outer.finish().map_err(at("certificate"))?;
    let (tbs, tbs_contents) = certificate
        .element(der::SEQUENCE)
        .map_err(at("tbsCertificate"))?;
    let (outer_algorithm, _) = certificate
        .element(der::SEQUENCE)
        .map_err(at("signatureAlgorithm"))?;
    let signature = certificate
        .read(der::BIT_STRING)
        .and_then(der::whole_bytes)
        .map_err(at("signatureValue"))?;
    certificate.finish().map_err(at("certificate"))?;

    let mut fields = Reader::new(tbs_contents);
    let version = match fields.optional(der::explicit(0)).map_err(at("version"))? {
        Some(version) => der::single(version, der::INTEGER).map_err(at("version"))?,
        None => &[0],
    };
    fields.read(der::INTEGER).map_err(at("serialNumber"))?;
    let (inner_algorithm, algorithm) = fields.element(der::SEQUENCE).map_err(at("signature"))?;
    // The signed copy of the algorithm is the one that counts; the unsigned one must agree.
    if inner_algorithm != outer_algorithm {
        return Err(CertError::Malformed("the two signature algorithms differ"));
    }
    let algorithm = signature_algorithm(algorithm).map_err(at("signature"))?;
    let (issuer, _) = fields.element(der::SEQUENCE).map_err(at("issuer"))?;
    let mut validity = fields.sequence().map_err(at("validity"))?;
    let not_before = time(&mut validity).map_err(at("notBefore"))?;
    let not_after = time(&mut validity).map_err(at("notAfter"))?;
    validity.finish().map_err(at("validity"))?;
    let (subject, _) = fields.element(der::SEQUENCE).map_err(at("subject"))?;
    let (spki, _) = fields
        .element(der::SEQUENCE)
        .map_err(at("subjectPublicKeyInfo"))?;
    // issuerUniqueID and subjectUniqueID ([1] and [2], primitive): obsolete, skipped.
    for tag in [0x81, 0x82] {
        fields.optional(tag).map_err(at("uniqueID"))?;
    }
    let mut certificate = Certificate {
        tbs,
        algorithm,
        signature,
        issuer,
        subject,
        not_before,
        not_after,
        spki,
        basic_constraints: None,
        key_usage: None,
        code_signing: None,
        unknown_critical: None,
        fulcio: false,
    };
    if let Some(extensions) = fields
        .optional(der::explicit(3))
        .map_err(at("extensions"))?
    {
        if version != [2] {
            return Err(CertError::Malformed(
                "extensions in a version 1 or 2 certificate",
            ));
        }
        read_extensions(extensions, &mut certificate)?;
    }
    fields.finish().map_err(at("tbsCertificate"))?;
    Ok(certificate)
}

fn signature_algorithm(contents: &[u8]) -> Result<SignatureAlgorithm, Malformed> {
    let mut fields = Reader::new(contents);
    let oid = fields.read(der::OID)?;
    let hash = |last: u8, sha256: u8| match last.wrapping_sub(sha256) {
        0 => Some(Hash::Sha256),
        1 => Some(Hash::Sha384),
        2 => Some(Hash::Sha512),
        _ => None,
    };
    let algorithm = match oid.split_last() {
        // ecdsa-with-SHA256/384/512 (RFC 5758): no parameters.
        Some((&last, head)) if head == ECDSA_WITH && fields.is_empty() => {
            hash(last, 2).map(SignatureAlgorithm::Ecdsa)
        }
        // sha256/384/512WithRSAEncryption (RFC 4055): NULL parameters, which some omit.
        Some((&last, head)) if head == PKCS1 => {
            fields.optional(der::NULL)?;
            hash(last, 0x0b)
                .filter(|_| fields.is_empty())
                .map(SignatureAlgorithm::RsaPkcs1)
        }
        _ => None,
    };
    Ok(algorithm.unwrap_or_else(|| SignatureAlgorithm::Unsupported(algorithm_name(oid))))
}

fn algorithm_name(oid: &[u8]) -> String {
    let name = match oid {
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05] => "sha1WithRSAEncryption",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a] => "RSASSA-PSS",
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01] => "ecdsa-with-SHA1",
        [0x2b, 0x65, 0x70] => "Ed25519",
        [0x2b, 0x65, 0x71] => "Ed448",
        _ => return der::dotted(oid),
    };
    name.to_string()
}

fn read_extensions(contents: &[u8], certificate: &mut Certificate<'_>) -> Result<(), CertError> {
    let malformed = |_| CertError::Malformed("extensions");
    let mut list = Reader::new(der::single(contents, der::SEQUENCE).map_err(malformed)?);
    let mut seen: Vec<&[u8]> = Vec::new();
    while !list.is_empty() {
        let mut extension = list.sequence().map_err(malformed)?;
        let oid = extension.read(der::OID).map_err(malformed)?;
        let critical = match extension.optional(der::BOOLEAN).map_err(malformed)? {
            None | Some([0x00]) => false,
            Some([0xff]) => true,
            Some(_) => return Err(CertError::Malformed("extensions")),
        };
        let value = extension.read(der::OCTET_STRING).map_err(malformed)?;
        extension.finish().map_err(malformed)?;
        if seen.contains(&oid) {
            return Err(CertError::DuplicateExtension(der::dotted(oid)));
        }
        seen.push(oid);
        let understood = match oid {
            BASIC_CONSTRAINTS => {
                certificate.basic_constraints = Some(
                    basic_constraints(value)
                        .map_err(|_| CertError::Malformed("basicConstraints"))?,
                );
                true
            }
            KEY_USAGE => {
                certificate.key_usage =
                    Some(key_usage(value).map_err(|_| CertError::Malformed("keyUsage"))?);
                true
            }
            EXTENDED_KEY_USAGE => {
                certificate.code_signing =
                    Some(code_signing(value).map_err(|_| CertError::Malformed("extKeyUsage"))?);
                true
            }
            _ => UNDERSTOOD.contains(&oid),
        };
        certificate.fulcio |= oid.starts_with(FULCIO);
        if critical && !understood && certificate.unknown_critical.is_none() {
            certificate.unknown_critical = Some(extension_name(oid));
        }
    }
    Ok(())
}

fn extension_name(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x1d, 0x1e] => "nameConstraints".to_string(),
        [0x55, 0x1d, 0x24] => "policyConstraints".to_string(),
        [0x55, 0x1d, 0x36] => "inhibitAnyPolicy".to_string(),
        _ => der::dotted(oid),
    }
}

/// `SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }`
fn basic_constraints(value: &[u8]) -> Result<BasicConstraints, Malformed> {
    let mut fields = Reader::new(der::single(value, der::SEQUENCE)?);
    let ca = match fields.optional(der::BOOLEAN)? {
        None | Some([0x00]) => false,
        Some([0xff]) => true,
        Some(_) => return Err(Malformed),
    };
    let path_len = match fields.optional(der::INTEGER)? {
        Some(digits) => {
            let digits = der::unsigned(digits)?;
            if digits.len() > 8 {
                return Err(Malformed);
            }
            Some(digits.iter().fold(0u64, |acc, &d| acc << 8 | u64::from(d)))
        }
        None => None,
    };
    fields.finish()?;
    Ok(BasicConstraints { ca, path_len })
}

/// A BIT STRING, bit 0 first: the low bits of the result.
fn key_usage(value: &[u8]) -> Result<u16, Malformed> {
    let bits = der::single(value, der::BIT_STRING)?;
    let (&unused, bytes) = bits.split_first().ok_or(Malformed)?;
    if unused > 7 || (bytes.is_empty() && unused != 0) {
        return Err(Malformed);
    }
    let mut usage = 0u16;
    for (i, &byte) in bytes.iter().take(2).enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                usage |= 1 << (8 * i + bit);
            }
        }
    }
    Ok(usage)
}

/// `SEQUENCE OF KeyPurposeId`: whether codeSigning is among them.
fn code_signing(value: &[u8]) -> Result<bool, Malformed> {
    let mut purposes = Reader::new(der::single(value, der::SEQUENCE)?);
    let mut found = false;
    while !purposes.is_empty() {
        found |= purposes.read(der::OID)? == CODE_SIGNING;
    }
    Ok(found)
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950 to 2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`, as RFC
/// 5280 §4.1.2.5 allows them: seconds since the Unix epoch.
fn time(validity: &mut Reader<'_>) -> Result<i64, Malformed> {
    let (text, century) = match validity.peek() {
        Some(der::UTC_TIME) => (validity.read(der::UTC_TIME)?, None),
        _ => (validity.read(der::GENERALIZED_TIME)?, Some(())),
    };
    let (digits, zone) = text
        .split_at_checked(text.len().wrapping_sub(1))
        .ok_or(Malformed)?;
    if zone != b"Z" || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Malformed);
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, Malformed> {
        let part = digits.get(range).ok_or(Malformed)?;
        Ok(part
            .iter()
            .fold(0, |acc, &d| acc * 10 + i64::from(d - b'0')))
    };
    let (year, rest) = match (century, digits.len()) {
        (None, 12) => {
            let yy = number(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (Some(()), 14) => (number(0..4)?, 4),
        _ => return Err(Malformed),
    };
    let [month, day, hour, minute, second] =
        [0, 2, 4, 6, 8].map(|at| number(rest + at..rest + at + 2));
    let (month, day, hour, minute, second) = (month?, day?, hour?, minute?, second?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(Malformed);
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm, the inverse of `text::rfc3339`'s).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A DER name as people read it: `O=Example, CN=Example Root`, in the order written.
pub fn name_text(name: &[u8]) -> String {
    let mut parts = Vec::new();
    let Ok(sequence) = der::single(name, der::SEQUENCE) else {
        return "(unreadable name)".to_string();
    };
    let mut sets = Reader::new(sequence);
    while let Ok(set) = sets.read(der::SET) {
        let mut attributes = Reader::new(set);
        while let Ok(mut attribute) = attributes.sequence() {
            let (Ok(oid), Some(tag)) = (attribute.read(der::OID), attribute.peek()) else {
                continue;
            };
            let Ok(value) = attribute.read(tag) else {
                continue;
            };
            parts.push(format!(
                "{}={}",
                attribute_name(oid),
                attribute_value(tag, value)
            ));
        }
    }
    if parts.is_empty() {
        "(empty name)".to_string()
    } else {
        crate::echo::value(&parts.join(", ")).to_string()
    }
}

fn attribute_name(oid: &[u8]) -> String {
    let name = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        _ => return der::dotted(oid),
    };
    name.to_string()
}

/// UTF8String, PrintableString, IA5String and TeletexString as text (the last as Latin-1, as
/// OpenSSL shows it), BMPString as UTF-16; anything else as `#` and hex.
fn attribute_value(tag: u8, value: &[u8]) -> String {
    match tag {
        0x0c | 0x13 | 0x16 => String::from_utf8_lossy(value).into_owned(),
        0x14 => value.iter().map(|&b| char::from(b)).collect(),
        0x1e => char::decode_utf16(
            value
                .chunks(2)
                .map(|pair| u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])),
        )
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect(),
        _ => format!("#{}", crate::digest::hex(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(validity: &[u8]) -> Result<i64, Malformed> {
        time(&mut Reader::new(validity))
    }

    fn utc(text: &str) -> Vec<u8> {
        [&[der::UTC_TIME, text.len() as u8][..], text.as_bytes()].concat()
    }

    fn generalized(text: &str) -> Vec<u8> {
        [
            &[der::GENERALIZED_TIME, text.len() as u8][..],
            text.as_bytes(),
        ]
        .concat()
    }

    #[test]
    fn times_read_both_forms_as_rfc_5280_allows() {
        assert_eq!(times(&utc("700101000000Z")), Ok(0));
        assert_eq!(times(&utc("240101000000Z")), Ok(1_704_067_200));
        assert_eq!(times(&utc("491231235959Z")), Ok(2_524_607_999));
        assert_eq!(times(&utc("500101000000Z")), Ok(-631_152_000));
        assert_eq!(times(&generalized("20440101000000Z")), Ok(2_335_219_200));
        assert_eq!(times(&generalized("20000229120000Z")), Ok(951_825_600));
        for bad in [
            utc("240101000000"),
            utc("2401010000Z"),
            utc("240230000000Z"),
            utc("241301000000Z"),
            utc("240101240000Z"),
            utc("24010100000+Z"),
            generalized("190002290000000Z"),
            generalized("19000229000000Z"),
            generalized("20240101000000.5Z"),
            utc(""),
            vec![der::INTEGER, 1, 0],
        ] {
            assert_eq!(times(&bad), Err(Malformed), "{bad:?}");
        }
    }

    #[test]
    fn names_read_as_people_write_them() {
        // SEQUENCE { SET { SEQUENCE { O, UTF8 "Ac\e" } }, SET { SEQUENCE { CN, BMP "Ré" } } }
        let name = [
            0x30, 0x1e, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x04, b'A',
            b'c', 0x1b, b'e', 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x03, 0x1e, 0x04,
            0x00, b'R', 0x00, 0xe9,
        ];
        assert_eq!(name_text(&name), "O=Ac\\u{1b}e, CN=Ré");
        assert_eq!(name_text(&name[..name.len() - 4]), "(unreadable name)");
        assert_eq!(name_text(&[0x30, 0x00]), "(empty name)");
        assert_eq!(attribute_value(0x04, &[1, 0xab]), "#01ab");
        assert_eq!(attribute_value(0x14, &[b'R', 0xe9]), "Ré");
    }

    #[test]
    fn key_usage_bits_count_from_the_first() {
        // digitalSignature alone: one byte, seven unused bits.
        assert_eq!(key_usage(&[0x03, 0x02, 0x07, 0x80]), Ok(DIGITAL_SIGNATURE));
        // keyCertSign and cRLSign.
        assert_eq!(
            key_usage(&[0x03, 0x02, 0x01, 0x06]),
            Ok(KEY_CERT_SIGN | 1 << 6)
        );
        assert_eq!(key_usage(&[0x03, 0x01, 0x01]), Err(Malformed));
        assert_eq!(key_usage(&[0x03, 0x02, 0x08, 0x80]), Err(Malformed));
    }

    #[test]
    fn basic_constraints_and_purposes_read() {
        let ca = [0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00];
        assert_eq!(
            basic_constraints(&ca),
            Ok(BasicConstraints {
                ca: true,
                path_len: Some(0)
            })
        );
        assert_eq!(
            basic_constraints(&[0x30, 0x00]),
            Ok(BasicConstraints {
                ca: false,
                path_len: None
            })
        );
        assert_eq!(
            basic_constraints(&[0x30, 0x03, 0x01, 0x01, 0x01]),
            Err(Malformed)
        );
        let purposes = [
            &[0x30, 0x14, 0x06, 0x08][..],
            &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01],
            &[0x06, 0x08],
            CODE_SIGNING,
        ]
        .concat();
        assert_eq!(code_signing(&purposes), Ok(true));
        assert_eq!(code_signing(&purposes[..12]), Err(Malformed));
        assert_eq!(code_signing(&[0x30, 0x00]), Ok(false));
    }

    #[test]
    fn signature_algorithms_are_named() {
        let ecdsa = [&[0x06, 0x08][..], &ECDSA_WITH, &[0x03]].concat();
        assert_eq!(
            signature_algorithm(&ecdsa),
            Ok(SignatureAlgorithm::Ecdsa(Hash::Sha384))
        );
        let rsa = [&[0x06, 0x09][..], &PKCS1, &[0x0d, 0x05, 0x00]].concat();
        assert_eq!(
            signature_algorithm(&rsa),
            Ok(SignatureAlgorithm::RsaPkcs1(Hash::Sha512))
        );
        let sha1 = [&[0x06, 0x09][..], &PKCS1, &[0x05, 0x05, 0x00]].concat();
        assert_eq!(
            signature_algorithm(&sha1),
            Ok(SignatureAlgorithm::Unsupported(
                "sha1WithRSAEncryption".into()
            ))
        );
        // ECDSA with parameters is no algorithm RFC 5758 defines.
        let with_null = [&ecdsa[..], &[0x05, 0x00]].concat();
        assert_eq!(
            signature_algorithm(&with_null),
            Ok(SignatureAlgorithm::Unsupported(
                "1.2.840.10045.4.3.3".into()
            ))
        );
    }
}

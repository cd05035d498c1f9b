//! NVIDIA's version numbers, a driver's and a CUDA release's, as the config, status.json and
//! NVML write them; and which driver a CUDA version needs. NVIDIA's answer is the CUDA version the driver reports
//! through NVML; the release-notes table below only names the driver to install, and stands
//! in when NVML cannot say.

use std::cmp::Ordering;
use std::fmt;

/// A driver version such as `550.54.15`, compared number by number (`570.124.06` is newer
/// than `570.26`).
#[derive(Debug, Clone, Eq)]
pub struct DriverVersion {
    parts: Vec<u32>,
    text: String,
}

impl DriverVersion {
    pub fn parse(text: &str) -> Option<DriverVersion> {
        let text = text.trim();
        let parts = text
            .split('.')
            .map(|p| {
                if p.is_empty() || p.len() > 6 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    None
                } else {
                    p.parse().ok()
                }
            })
            .collect::<Option<Vec<u32>>>()?;
        (1..=4).contains(&parts.len()).then(|| DriverVersion {
            parts,
            text: text.to_string(),
        })
    }
}

impl PartialEq for DriverVersion {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}

impl Ord for DriverVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl PartialOrd for DriverVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for DriverVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A CUDA version as NVML encodes it: `1000 * major + 10 * minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CudaVersion(u32);

impl CudaVersion {
    pub fn new(major: u32, minor: u32) -> CudaVersion {
        CudaVersion(major * 1000 + minor * 10)
    }

    pub fn from_nvml(encoded: i32) -> Option<CudaVersion> {
        u32::try_from(encoded)
            .ok()
            .filter(|&v| v >= 1000)
            .map(CudaVersion)
    }

    /// `12.4` or `12`.
    pub fn parse(text: &str) -> Option<CudaVersion> {
        let (major, minor) = text.trim().split_once('.').unwrap_or((text.trim(), "0"));
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) {
            return None;
        }
        let (major, minor): (u32, u32) = (major.parse().ok()?, minor.parse().ok()?);
        (major >= 1 && minor <= 99).then(|| CudaVersion::new(major, minor))
    }

    pub fn major(self) -> u32 {
        self.0 / 1000
    }

    pub fn minor(self) -> u32 {
        (self.0 % 1000) / 10
    }
}

impl fmt::Display for CudaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major(), self.minor())
    }
}

/// How strictly `cuda:` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compat {
    /// The driver must support the version itself.
    Strict,
    /// Any driver at or above the floor of the version's major family will do.
    Minor,
}

/// The first Linux x86_64 driver of each CUDA release (GA), from the CUDA toolkit release
/// notes, Table 3. There is no CUDA 12.7.
const RELEASES: &[((u32, u32), &str)] = &[
    ((13, 2), "595.45.04"),
    ((13, 1), "590.44.01"),
    ((13, 0), "580.65.06"),
    ((12, 9), "575.51.03"),
    ((12, 8), "570.26"),
    ((12, 6), "560.28.03"),
    ((12, 5), "555.42.02"),
    ((12, 4), "550.54.14"),
    ((12, 3), "545.23.06"),
    ((12, 2), "535.54.03"),
    ((12, 1), "530.30.02"),
    ((12, 0), "525.60.13"),
    ((11, 8), "520.61.05"),
    ((11, 7), "515.43.04"),
    ((11, 6), "510.39.01"),
    ((11, 5), "495.29.05"),
    ((11, 4), "470.42.01"),
    ((11, 3), "465.19.01"),
    ((11, 2), "460.27.03"),
    ((11, 1), "455.23"),
    ((11, 0), "450.51.05"),
    ((10, 2), "440.33"),
    ((10, 1), "418.39"),
    ((10, 0), "410.48"),
];

/// The floor of minor-version compatibility for each major family.
const FAMILY_FLOORS: &[(u32, &str)] = &[(11, "450.80.02"), (12, "525.60.13"), (13, "580.65.06")];

/// The driver that first shipped with `cuda`, if the table knows the release.
pub fn driver_for(cuda: CudaVersion) -> Option<&'static str> {
    RELEASES
        .iter()
        .find(|((major, minor), _)| CudaVersion::new(*major, *minor) == cuda)
        .map(|(_, driver)| *driver)
}

/// The newest CUDA a driver supports by the table: the stand-in when NVML cannot say.
pub fn supported_by(driver: &DriverVersion) -> Option<CudaVersion> {
    RELEASES
        .iter()
        .find(|(_, min)| DriverVersion::parse(min).is_some_and(|min| *driver >= min))
        .map(|((major, minor), _)| CudaVersion::new(*major, *minor))
}

pub fn family_floor(major: u32) -> Option<&'static str> {
    FAMILY_FLOORS
        .iter()
        .find(|(m, _)| *m == major)
        .map(|(_, floor)| *floor)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Judgement {
    Supported,
    /// Accepted through minor-version compatibility, with this caveat.
    Compatible(String),
    TooOld(String),
}

/// Whether a driver that supports `supported` can run an image built for `needed`.
pub fn judge(
    needed: CudaVersion,
    compat: Compat,
    supported: CudaVersion,
    driver: Option<&DriverVersion>,
) -> Judgement {
    if supported >= needed {
        return Judgement::Supported;
    }
    let floor = family_floor(needed.major());
    if compat == Compat::Minor
        && let Some(floor) = floor
        && let Some(driver) = driver
        && DriverVersion::parse(floor).is_some_and(|floor| *driver >= floor)
    {
        return Judgement::Compatible(format!(
            "driver {driver} supports CUDA {supported}; CUDA {needed} runs through minor-version \
             compatibility, where newer APIs and PTX JIT may fail"
        ));
    }
    let install = match (compat, floor, driver_for(needed)) {
        (Compat::Minor, Some(floor), _) => format!("driver ≥ {floor} with cuda_compat: minor"),
        (_, _, Some(first)) => format!("driver ≥ {first}"),
        _ => "a driver that supports it: see the CUDA release notes".to_string(),
    };
    let driver = driver.map_or_else(|| "(version unknown)".to_string(), ToString::to_string);
    Judgement::TooOld(format!(
        "driver {driver} supports CUDA {supported}; this image needs CUDA {needed} ({install})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> DriverVersion {
        DriverVersion::parse(text).unwrap()
    }

    #[test]
    fn driver_versions_compare_number_by_number() {
        assert!(v("570.124.06") > v("570.26"));
        assert!(v("550.54.15") > v("550.54"));
        assert!(v("535.104.05") < v("550.54.14"));
        assert_eq!(v("550.54"), v("550.54"));
        for bad in ["", "550.", "abc", "550..1", "1.2.3.4.5", "-1"] {
            assert!(DriverVersion::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn cuda_versions_use_nvml_encoding() {
        assert_eq!(CudaVersion::parse("12.4"), CudaVersion::from_nvml(12040));
        assert_eq!(CudaVersion::parse("13").unwrap().to_string(), "13.0");
        assert_eq!(CudaVersion::from_nvml(11080).unwrap().to_string(), "11.8");
        assert!(CudaVersion::parse("12.x").is_none());
        assert!(CudaVersion::from_nvml(-1).is_none());
    }

    #[test]
    fn strict_names_the_driver_to_install() {
        let needed = CudaVersion::parse("12.4").unwrap();
        let judgement = judge(
            needed,
            Compat::Strict,
            CudaVersion::parse("12.2").unwrap(),
            Some(&v("535.104.05")),
        );
        assert_eq!(
            judgement,
            Judgement::TooOld(
                "driver 535.104.05 supports CUDA 12.2; this image needs CUDA 12.4 (driver ≥ 550.54.14)"
                    .into()
            )
        );
    }

    #[test]
    fn minor_accepts_the_family_floor_with_a_caveat() {
        let needed = CudaVersion::parse("12.4").unwrap();
        let supported = CudaVersion::parse("12.2").unwrap();
        assert!(matches!(
            judge(needed, Compat::Minor, supported, Some(&v("535.104.05"))),
            Judgement::Compatible(_)
        ));
        let old = judge(
            needed,
            Compat::Minor,
            CudaVersion::parse("11.8").unwrap(),
            Some(&v("520.61.05")),
        );
        assert!(
            matches!(old, Judgement::TooOld(ref m) if m.contains("525.60.13")),
            "{old:?}"
        );
    }

    #[test]
    fn the_table_stands_in_for_nvml() {
        assert_eq!(supported_by(&v("550.54.15")).unwrap().to_string(), "12.4");
        assert_eq!(supported_by(&v("580.95.05")).unwrap().to_string(), "13.0");
        assert_eq!(supported_by(&v("400.1")), None);
        assert_eq!(driver_for(CudaVersion::parse("12.7").unwrap()), None);
    }
}

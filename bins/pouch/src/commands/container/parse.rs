//! Values of `create`/`run` flags, parsed with the rules (and error messages) of the docker CLI's
//! `opts` package and `go-units`, so that a command line docker accepts means the same here.

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};

/// go-units `RAMInBytes` (binary multiples: `64m` is 64 MiB); `b`, `k`, `kb`, `kib`, … in any
/// case, a space allowed before the unit, fractions allowed.
pub fn ram_in_bytes(s: &str) -> Result<i64> {
    let invalid = || anyhow!("invalid size: '{s}'");
    let sep = s
        .rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        .ok_or_else(invalid)?;
    let (num, suffix) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..=sep], &s[sep + 1..])
    };
    let size: f64 = num.parse().map_err(|_| invalid())?;
    if size < 0.0 || !size.is_finite() {
        return Err(invalid());
    }
    if suffix.is_empty() {
        return Ok(size as i64);
    }
    let bad_suffix = || anyhow!("invalid suffix: '{}'", suffix.to_ascii_lowercase());
    let sfx = suffix.to_ascii_lowercase();
    if sfx.len() > 3 {
        return Err(bad_suffix());
    }
    if sfx.starts_with('b') {
        return if sfx.len() == 1 {
            Ok(size as i64)
        } else {
            Err(bad_suffix())
        };
    }
    let power = match sfx.as_bytes()[0] {
        b'k' => 1,
        b'm' => 2,
        b'g' => 3,
        b't' => 4,
        b'p' => 5,
        _ => return Err(bad_suffix()),
    };
    match sfx.len() {
        2 if &sfx[1..] != "b" => return Err(bad_suffix()),
        3 if &sfx[1..] != "ib" => return Err(bad_suffix()),
        _ => {}
    }
    Ok((size * 1024f64.powi(power)) as i64)
}

/// `--memory-swap`: `-1` means unlimited, anything else is a size.
pub fn swap_bytes(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(s)
}

/// `--cpus` as nano-CPUs (`1.5` → 1_500_000_000), exact like docker's `big.Rat` parsing:
/// decimals, exponents and `a/b` fractions; a value finer than a nano-CPU is refused.
pub fn nano_cpus(s: &str) -> Result<i64> {
    let not_rational = || anyhow!("failed to parse {s} as a rational number");
    let too_precise = || anyhow!("value is too precise");
    const NANO: i128 = 1_000_000_000;
    let (num, den): (i128, i128) = if let Some((a, b)) = s.split_once('/') {
        let a: i128 = a.parse().map_err(|_| not_rational())?;
        let b: i128 = b.parse().map_err(|_| not_rational())?;
        if b <= 0 {
            return Err(not_rational());
        }
        (a, b)
    } else {
        let (mantissa, exp) = match s.find(['e', 'E']) {
            Some(i) => (
                &s[..i],
                s[i + 1..].parse::<i32>().map_err(|_| not_rational())?,
            ),
            None => (s, 0),
        };
        let (sign, digits) = match mantissa.strip_prefix('-') {
            Some(rest) => (-1, rest),
            None => (1, mantissa.strip_prefix('+').unwrap_or(mantissa)),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all = format!("{int}{frac}");
        if all.is_empty() || !all.bytes().all(|b| b.is_ascii_digit()) || all.len() > 30 {
            return Err(not_rational());
        }
        let value: i128 = all.parse().map_err(|_| not_rational())?;
        let scale = exp - frac.len() as i32;
        if !(-40..=20).contains(&scale) {
            return Err(if scale < 0 {
                too_precise()
            } else {
                not_rational()
            });
        }
        if scale >= 0 {
            (sign * value * 10i128.pow(scale as u32), 1)
        } else {
            (sign * value, 10i128.pow(scale.unsigned_abs()))
        }
    };
    let scaled = num.checked_mul(NANO).ok_or_else(not_rational)?;
    if scaled % den != 0 {
        return Err(too_precise());
    }
    i64::try_from(scaled / den).map_err(|_| not_rational())
}

/// `--restart no|always|unless-stopped|on-failure[:N]` as Docker's `RestartPolicy`.
pub fn restart_policy(policy: &str) -> Result<Value> {
    let (name, count) = match policy.split_once(':') {
        Some(("", _)) => bail!("invalid restart policy format: no policy provided before colon"),
        Some((name, count)) => (name, count),
        None => (policy, ""),
    };
    let count: i64 = if count.is_empty() {
        0
    } else {
        count.parse().map_err(|_| {
            anyhow!("invalid restart policy format: maximum retry count must be an integer")
        })?
    };
    Ok(json!({"Name": name, "MaximumRetryCount": count}))
}

/// The resource limits `--ulimit` may name (go-units `ulimitNameMapping`).
const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `--ulimit name=soft[:hard]` (hard defaults to soft).
pub fn ulimit(val: &str) -> Result<(String, Value)> {
    let (name, limits) = val
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid ulimit argument: {val}"))?;
    if !ULIMITS.contains(&name) {
        bail!("invalid ulimit type: {name}");
    }
    let int = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| anyhow!("strconv.ParseInt: parsing {s:?}: invalid syntax"))
    };
    let parts: Vec<&str> = limits.split(':').collect();
    let (soft, hard) = match parts.as_slice() {
        [soft] => (int(soft)?, int(soft)?),
        [soft, hard] => (int(soft)?, int(hard)?),
        _ => bail!(
            "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
        ),
    };
    if hard != -1 && soft > hard {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok((
        name.to_owned(),
        json!({"Name": name, "Hard": hard, "Soft": soft}),
    ))
}

fn valid_device_mode(mode: &str) -> bool {
    let mut seen = [false; 3];
    !mode.is_empty()
        && mode.bytes().all(|c| {
            let i = match c {
                b'r' => 0,
                b'w' => 1,
                b'm' => 2,
                _ => return false,
            };
            !std::mem::replace(&mut seen[i], true)
        })
}

/// `--device host[:container][:mode]` as Docker's `DeviceMapping`s. A host path ending in `*`
/// is expanded against the local `/dev`, as docker does.
pub fn device(val: &str) -> Result<Vec<Value>> {
    let bad_path = || anyhow!("bad format for path: {val}");
    if val.matches(':').count() > 2 || val.starts_with(':') || val.is_empty() {
        return Err(bad_path());
    }
    let parts: Vec<&str> = val.split(':').collect();
    let (src, mut dst, mut perms) = (parts[0], "", "rwm");
    match parts.as_slice() {
        [_] => {}
        [_, second] if valid_device_mode(second) => perms = second,
        [_, second] => dst = second,
        [_, second, mode] => {
            if !valid_device_mode(mode) {
                bail!("bad mode specified: {mode}");
            }
            dst = second;
            perms = mode;
        }
        _ => return Err(bad_path()),
    }
    let container_path = if dst.is_empty() { src } else { dst };
    if !container_path.starts_with('/') {
        bail!("{container_path} is not an absolute path");
    }
    let mapping = |host: &str, inside: &str| json!({"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": perms});
    if let Some(prefix) = src.strip_suffix('*') {
        if !dst.is_empty() {
            bail!("device with * suffix can't have dst: {val}");
        }
        return Ok(glob_prefix(prefix).iter().map(|p| mapping(p, p)).collect());
    }
    Ok(vec![mapping(src, container_path)])
}

/// Paths in `prefix`'s directory whose names start with `prefix`'s last component, sorted.
fn glob_prefix(prefix: &str) -> Vec<String> {
    let path = std::path::Path::new(prefix);
    let (dir, start) = if prefix.ends_with('/') {
        (path, "")
    } else {
        (
            path.parent().unwrap_or(std::path::Path::new("/")),
            path.file_name().and_then(|n| n.to_str()).unwrap_or(""),
        )
    };
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.starts_with(start)
                .then(|| dir.join(name).to_string_lossy().into_owned())
        })
        .collect();
    out.sort();
    out
}

/// `--sysctl key=value`: only the namespaced sysctls a container may set (docker's list).
pub fn sysctl(val: &str) -> Result<(String, String)> {
    const KEYS: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let not_allowed = || anyhow!("sysctl '{val}' is not allowed");
    let (key, value) = val.split_once('=').ok_or_else(not_allowed)?;
    if KEYS.contains(&key) || key.starts_with("net.") || key.starts_with("fs.mqueue.") {
        Ok((key.to_owned(), value.to_owned()))
    } else {
        Err(not_allowed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        for (s, want) in [
            ("64m", 67_108_864),
            ("64M", 67_108_864),
            ("64mb", 67_108_864),
            ("64MiB", 67_108_864),
            ("1g", 1_073_741_824),
            ("1.5k", 1536),
            ("32", 32),
            ("32b", 32),
            ("10 k", 10_240),
            ("0.5t", 549_755_813_888),
        ] {
            assert_eq!(ram_in_bytes(s).unwrap(), want, "{s}");
        }
        for (s, err) in [
            ("12x", "invalid suffix: 'x'"),
            ("12kk", "invalid suffix: 'kk'"),
            ("12kbb", "invalid suffix: 'kbb'"),
            ("12bk", "invalid suffix: 'bk'"),
            ("m", "invalid size: 'm'"),
            ("-1", "invalid size: '-1'"),
            ("", "invalid size: ''"),
        ] {
            assert_eq!(ram_in_bytes(s).unwrap_err().to_string(), err, "{s}");
        }
        assert_eq!(swap_bytes("-1").unwrap(), -1);
        assert_eq!(swap_bytes("1g").unwrap(), 1_073_741_824);
    }

    #[test]
    fn cpus_are_exact() {
        for (s, want) in [
            ("1.5", 1_500_000_000),
            ("2", 2_000_000_000),
            ("0.000000001", 1),
            (".5", 500_000_000),
            ("3/2", 1_500_000_000),
            ("1e-3", 1_000_000),
            ("2.5E1", 25_000_000_000),
        ] {
            assert_eq!(nano_cpus(s).unwrap(), want, "{s}");
        }
        assert_eq!(
            nano_cpus("0.0000000001").unwrap_err().to_string(),
            "value is too precise"
        );
        assert_eq!(
            nano_cpus("abc").unwrap_err().to_string(),
            "failed to parse abc as a rational number"
        );
        assert!(nano_cpus("1/0").is_err());
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            restart_policy("on-failure:3").unwrap(),
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(
            restart_policy("always").unwrap(),
            json!({"Name": "always", "MaximumRetryCount": 0})
        );
        assert_eq!(
            restart_policy("on-failure:x").unwrap_err().to_string(),
            "invalid restart policy format: maximum retry count must be an integer"
        );
        assert!(restart_policy(":3").is_err());
    }

    #[test]
    fn ulimits() {
        let (name, v) = ulimit("nofile=1024:2048").unwrap();
        assert_eq!(name, "nofile");
        assert_eq!(v, json!({"Name": "nofile", "Soft": 1024, "Hard": 2048}));
        assert_eq!(ulimit("nproc=64").unwrap().1["Hard"], 64);
        assert_eq!(ulimit("core=-1:-1").unwrap().1["Soft"], -1);
        for (s, err) in [
            ("nofile", "invalid ulimit argument: nofile"),
            ("bogus=1", "invalid ulimit type: bogus"),
            (
                "nofile=1:2:3",
                "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`",
            ),
            (
                "nofile=2048:1024",
                "ulimit soft limit must be less than or equal to hard limit: 2048 > 1024",
            ),
        ] {
            assert_eq!(ulimit(s).unwrap_err().to_string(), err);
        }
    }

    #[test]
    fn devices() {
        let full = json!({"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"});
        assert_eq!(
            device("/dev/fuse:/dev/fuse:rwm").unwrap(),
            vec![full.clone()]
        );
        assert_eq!(device("/dev/fuse").unwrap(), vec![full]);
        assert_eq!(
            device("/dev/sda:r").unwrap()[0],
            json!({"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "r"})
        );
        assert_eq!(
            device("/dev/sda:/dev/xvda").unwrap()[0]["PathInContainer"],
            "/dev/xvda"
        );
        assert_eq!(
            device("/dev/a:/dev/b:rwx").unwrap_err().to_string(),
            "bad mode specified: rwx"
        );
        assert_eq!(
            device("/dev/a:rel").unwrap_err().to_string(),
            "rel is not an absolute path"
        );
        assert!(device("a:b:c:d").is_err());
        assert!(device(":/dev/x").is_err());
        assert!(!valid_device_mode("rr"));
    }

    #[test]
    fn sysctls() {
        assert_eq!(
            sysctl("net.ipv4.ip_forward=1").unwrap(),
            ("net.ipv4.ip_forward".into(), "1".into())
        );
        assert!(sysctl("kernel.shmmax=1").is_ok());
        assert_eq!(
            sysctl("vm.swappiness=1").unwrap_err().to_string(),
            "sysctl 'vm.swappiness=1' is not allowed"
        );
    }
}

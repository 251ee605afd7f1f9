//! From `create`/`run` flags to the body of `POST /containers/create`: Docker's `Config` with
//! its `HostConfig` (and `NetworkingConfig` when it says anything), following the docker CLI's
//! `parse()` so the same flags produce the same request.
//!
//! Only what the user set is sent, apart from the attach/TTY booleans every create carries;
//! the network mode in particular is left out unless given, so the daemon picks its default.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value, json};

use super::opts::ContainerOptions;
use super::ports::Ports;
use super::{envs, parse, security};
use crate::signal::normalize_signal;

/// A container to create: the request body in parts, plus what `run` needs to drive it.
#[derive(Debug, Clone)]
pub struct Spec {
    pub image: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub stdin_once: bool,
    pub auto_remove: bool,
    /// True when `-a` was given (it conflicts with `-d`).
    pub attach_flag_given: bool,
    config: Map<String, Value>,
    host: Map<String, Value>,
}

/// What `build` needs from the outside world, injectable for tests.
pub struct Env<'a> {
    /// The local environment (`-e NAME` without a value takes it from here).
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Reads an `--env-file`.
    pub read_file: &'a dyn Fn(&str) -> std::io::Result<String>,
    /// The local terminal's size when a TTY container will be attached to it.
    pub console_size: Option<(u16, u16)>,
}

impl Env<'static> {
    /// The real environment and file system.
    pub fn system(console_size: Option<(u16, u16)>) -> Env<'static> {
        Env {
            lookup: &|k| std::env::var(k).ok(),
            read_file: &|p| std::fs::read_to_string(p),
            console_size,
        }
    }
}

impl Spec {
    /// `run -d`: nothing is attached, and stdin is not closed after a client that never comes.
    pub fn detach(&mut self) {
        self.attach_stdin = false;
        self.attach_stdout = false;
        self.attach_stderr = false;
        self.stdin_once = false;
    }

    /// The JSON body of `POST /containers/create`.
    pub fn body(&self) -> Value {
        let mut config = self.config.clone();
        config.insert("Image".into(), json!(self.image));
        config.insert("AttachStdin".into(), json!(self.attach_stdin));
        config.insert("AttachStdout".into(), json!(self.attach_stdout));
        config.insert("AttachStderr".into(), json!(self.attach_stderr));
        config.insert("Tty".into(), json!(self.tty));
        config.insert("OpenStdin".into(), json!(self.open_stdin));
        config.insert("StdinOnce".into(), json!(self.stdin_once));
        let mut host = self.host.clone();
        host.insert("AutoRemove".into(), json!(self.auto_remove));
        config.insert("HostConfig".into(), Value::Object(host));
        Value::Object(config)
    }
}

fn flag_error(value: &str, flag: &str, err: anyhow::Error) -> anyhow::Error {
    anyhow!("invalid argument \"{value}\" for \"{flag}\" flag: {err}")
}

fn put(map: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    map.insert(key.to_owned(), value.into());
}

/// Maps the flags onto a [`Spec`]. Errors carry docker's messages.
pub fn build(o: &ContainerOptions, env: &Env<'_>) -> Result<Spec> {
    let (image, args) = o
        .image_and_args
        .split_first()
        .ok_or_else(|| anyhow!("\"run\" requires at least 1 argument"))?;
    if image.starts_with('-') {
        bail!("unknown flag: {image}");
    }
    let mut config = Map::new();
    let mut host = Map::new();

    // Attach: -a picks streams; without it stdout and stderr are attached; -i adds stdin.
    let mut attach = [false; 3];
    for stream in &o.attach {
        match stream.to_ascii_lowercase().as_str() {
            "stdin" => attach[0] = true,
            "stdout" => attach[1] = true,
            "stderr" => attach[2] = true,
            _ => {
                return Err(flag_error(
                    stream,
                    "-a, --attach",
                    anyhow!("valid streams are STDIN, STDOUT and STDERR"),
                ));
            }
        }
    }
    if o.interactive {
        attach[0] = true;
    }
    if o.attach.is_empty() {
        attach[1] = true;
        attach[2] = true;
    }

    if let Some(h) = &o.hostname {
        put(&mut config, "Hostname", h.as_str());
    }
    if let Some(u) = &o.user {
        put(&mut config, "User", u.as_str());
    }
    if let Some(w) = &o.workdir {
        put(&mut config, "WorkingDir", w.as_str());
    }
    if !args.is_empty() {
        put(&mut config, "Cmd", json!(args));
    }
    // `--entrypoint ""` resets the image's entrypoint, which the API spells `[""]`.
    if let Some(ep) = &o.entrypoint {
        put(&mut config, "Entrypoint", json!([ep]));
    }

    let mut envs = Vec::new();
    for file in &o.env_file {
        let contents = (env.read_file)(file).with_context(|| format!("open {file}"))?;
        envs.extend(envs::env_file(&contents, env.lookup)?);
    }
    for e in &o.env {
        envs.push(envs::env_var(e, env.lookup).map_err(|err| flag_error(e, "-e, --env", err))?);
    }
    if !envs.is_empty() {
        put(&mut config, "Env", json!(envs));
    }

    let mut labels = Map::new();
    for l in &o.label {
        let (k, v) = envs::label(l).map_err(|err| flag_error(l, "-l, --label", err))?;
        labels.insert(k, json!(v));
    }
    if !labels.is_empty() {
        put(&mut config, "Labels", labels);
    }
    if let Some(sig) = &o.stop_signal {
        let sig = normalize_signal(sig).map_err(|err| flag_error(sig, "--stop-signal", err))?;
        put(&mut config, "StopSignal", sig);
    }
    if let Some(t) = o.stop_timeout {
        put(&mut config, "StopTimeout", t);
    }

    let mut ports = Ports::default();
    for p in &o.publish {
        ports.publish(p)?;
    }
    for e in &o.expose {
        ports.expose(e)?;
    }
    if !ports.exposed.is_empty() {
        put(&mut config, "ExposedPorts", ports.exposed);
    }
    if !ports.bindings.is_empty() {
        put(&mut host, "PortBindings", ports.bindings);
    }

    // A volume with a source (`/host:/ctr`, `name:/ctr`) is a bind; a bare path is anonymous.
    let mut binds = Vec::new();
    let mut volumes = Map::new();
    for v in &o.volume {
        if v.is_empty() {
            return Err(flag_error(
                v,
                "-v, --volume",
                anyhow!("invalid empty volume spec"),
            ));
        }
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            volumes.insert(v.clone(), json!({}));
        }
    }
    if !volumes.is_empty() {
        put(&mut config, "Volumes", volumes);
    }
    if !binds.is_empty() {
        put(&mut host, "Binds", json!(binds));
    }
    super::storage::apply(&o.storage, &mut config, &mut host)?;

    host_settings(o, &mut host)?;
    if let Some(nc) = super::netopts::apply(&o.net, o.network.as_deref(), &mut host)? {
        put(&mut config, "NetworkingConfig", nc);
    }
    if let Some((h, w)) = env.console_size {
        put(&mut host, "ConsoleSize", json!([h, w]));
    }

    let auto_remove = o.rm;
    let restart_is_none = host
        .get("RestartPolicy")
        .and_then(|p| p["Name"].as_str())
        .is_none_or(|n| n.is_empty() || n == "no");
    if auto_remove && !restart_is_none {
        bail!("conflicting options: cannot specify both --restart and --rm");
    }

    Ok(Spec {
        image: image.clone(),
        name: o.name.clone(),
        platform: o.platform.clone().filter(|p| !p.is_empty()),
        tty: o.tty,
        open_stdin: o.interactive,
        attach_stdin: attach[0],
        attach_stdout: attach[1],
        attach_stderr: attach[2],
        // When stdin is attached, close it once the client disconnects.
        stdin_once: o.interactive && attach[0],
        auto_remove,
        attach_flag_given: !o.attach.is_empty(),
        config,
        host,
    })
}

/// The `HostConfig` fields that come straight from one flag each.
fn host_settings(o: &ContainerOptions, host: &mut Map<String, Value>) -> Result<()> {
    if let Some(init) = o.init {
        put(host, "Init", init);
    }
    if o.privileged {
        put(host, "Privileged", true);
    }
    if o.read_only {
        put(host, "ReadonlyRootfs", true);
    }
    if o.enable_lxcfs {
        put(host, "EnableLxcfs", true);
    }
    let (cap_add, cap_drop) = security::effective_caps(&o.cap_add, &o.cap_drop);
    if !cap_add.is_empty() {
        put(host, "CapAdd", json!(cap_add));
    }
    if !cap_drop.is_empty() {
        put(host, "CapDrop", json!(cap_drop));
    }
    let mut security = Vec::new();
    for opt in &o.security_opt {
        if opt == "systempaths=unconfined" {
            put(host, "MaskedPaths", json!([]));
            put(host, "ReadonlyPaths", json!([]));
            continue;
        }
        security.push(security::security_opt(opt)?);
    }
    if !security.is_empty() {
        put(host, "SecurityOpt", json!(security));
    }
    let mut devices = Vec::new();
    for d in &o.device {
        devices.extend(parse::device(d)?);
    }
    if !devices.is_empty() {
        put(host, "Devices", devices);
    }
    let mut sysctls = Map::new();
    for s in &o.sysctl {
        let (k, v) = parse::sysctl(s).map_err(|err| flag_error(s, "--sysctl", err))?;
        sysctls.insert(k, json!(v));
    }
    if !sysctls.is_empty() {
        put(host, "Sysctls", sysctls);
    }
    // Later values for the same limit replace earlier ones, keeping first-seen order.
    let mut ulimits: Vec<(String, Value)> = Vec::new();
    for u in &o.ulimit {
        let (name, value) = parse::ulimit(u).map_err(|err| flag_error(u, "--ulimit", err))?;
        match ulimits.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => ulimits.push((name, value)),
        }
    }
    if !ulimits.is_empty() {
        put(
            host,
            "Ulimits",
            json!(ulimits.into_iter().map(|(_, v)| v).collect::<Vec<_>>()),
        );
    }
    if let Some(s) = &o.shm_size {
        let bytes = parse::ram_in_bytes(s).map_err(|err| flag_error(s, "--shm-size", err))?;
        put(host, "ShmSize", bytes);
    }
    if let Some(ipc) = &o.ipc {
        put(host, "IpcMode", ipc.as_str());
    }
    if let Some(pid) = &o.pid {
        let valid = pid.is_empty()
            || pid == "host"
            || pid
                .strip_prefix("container:")
                .is_some_and(|c| !c.is_empty());
        if !valid {
            bail!("--pid: invalid PID mode");
        }
        put(host, "PidMode", pid.as_str());
    }
    if let Some(u) = &o.userns {
        put(host, "UsernsMode", u.as_str());
    }
    if let Some(uts) = &o.uts {
        if !uts.is_empty() && uts != "host" {
            bail!("--uts: invalid UTS mode");
        }
        put(host, "UTSMode", uts.as_str());
    }
    if let Some(net) = &o.network {
        if net.trim().is_empty() {
            bail!("no name set for network");
        }
        put(host, "NetworkMode", net.as_str());
    }
    if let Some(r) = &o.restart {
        put(host, "RestartPolicy", parse::restart_policy(r)?);
    }
    if let Some(rt) = &o.runtime {
        put(host, "Runtime", rt.as_str());
    }
    if let Some(m) = &o.memory {
        let bytes = parse::ram_in_bytes(m).map_err(|err| flag_error(m, "-m, --memory", err))?;
        put(host, "Memory", bytes);
    }
    if let Some(s) = &o.memory_swap {
        let bytes = parse::swap_bytes(s).map_err(|err| flag_error(s, "--memory-swap", err))?;
        put(host, "MemorySwap", bytes);
    }
    if let Some(p) = o.pids_limit {
        put(host, "PidsLimit", p);
    }
    if let Some(c) = o.cpu_shares {
        put(host, "CpuShares", c);
    }
    if let Some(c) = &o.cpus {
        let nano = parse::nano_cpus(c).map_err(|err| flag_error(c, "--cpus", err))?;
        put(host, "NanoCpus", nano);
    }
    super::limits::apply(&o.limits, host)?;
    let mut log_config = Map::new();
    for opt in &o.log_opt {
        let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
        log_config.insert(k.to_owned(), json!(v));
    }
    let driver = o.log_driver.clone().unwrap_or_default();
    if driver == "none" && !log_config.is_empty() {
        bail!("invalid logging opts for driver none");
    }
    if !driver.is_empty() || !log_config.is_empty() {
        put(
            host,
            "LogConfig",
            json!({"Type": driver, "Config": log_config}),
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;

//! The stock docker CLI against pouchd, command by command, for the commands other test files do
//! not already drive with it (docs/COMPATIBILITY.md names the test for every command).

use std::io::Write;
use std::process::Stdio;

use pouch_e2e::{docker_daemon, out, test_images};

/// A busybox web server on port 80, serving /etc.
const HTTPD: [&str; 7] = ["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"];

#[test]
fn docker_container_group_ls_inspect_rename_restart_prune() {
    let Some(d) = docker_daemon() else { return };
    let id = d.docker_ok(&[
        "container",
        "create",
        "--name",
        "c1",
        "busybox",
        "sleep",
        "100",
    ]);
    let id = id.trim();
    assert_eq!(
        d.docker_ok(&["container", "ls", "-a", "--format", "{{.Names}} {{.State}}"]),
        "c1 created\n"
    );
    d.docker_ok(&["container", "start", "c1"]);
    d.docker_ok(&["container", "rename", "c1", "c2"]);
    assert_eq!(
        d.docker_ok(&[
            "container",
            "inspect",
            "-f",
            "{{.Name}} {{.State.Running}}",
            id
        ]),
        "/c2 true\n"
    );
    let before = d.inspect(id)["State"]["StartedAt"]
        .as_str()
        .unwrap()
        .to_string();
    d.docker_ok(&["container", "restart", "-t", "0", "c2"]);
    let after = d.inspect(id)["State"]["StartedAt"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(before, after, "restart starts it again");
    assert_eq!(d.inspect(id)["State"]["Running"], true);
    d.docker_ok(&["restart", "-t", "1", "c2"]);
    assert_eq!(
        d.inspect(id)["RestartCount"],
        0,
        "a manual restart is not a policy restart"
    );
    d.docker_ok(&["container", "kill", "c2"]);
    assert_eq!(d.docker_ok(&["container", "wait", "c2"]), "137\n");
    let pruned = d.docker_ok(&["container", "prune", "-f"]);
    assert!(pruned.contains(id), "{pruned}");
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
    // Renaming onto a taken name is a conflict.
    d.docker_ok(&["create", "--name", "x1", "busybox", "true"]);
    d.docker_ok(&["create", "--name", "x2", "busybox", "true"]);
    let (_, se, code) = out(&d.docker(&["rename", "x1", "x2"]));
    assert_eq!(code, Some(1));
    assert!(se.contains("already in use"), "{se}");
}

#[test]
fn docker_attach_and_start_attach() {
    let Some(d) = docker_daemon() else { return };
    // start -a streams the output and returns the exit code.
    d.docker_ok(&[
        "create",
        "--name",
        "once",
        "busybox",
        "sh",
        "-c",
        "echo from-start; exit 3",
    ]);
    let (so, _, code) = out(&d.docker(&["start", "-a", "once"]));
    assert_eq!((so.as_str(), code), ("from-start\n", Some(3)));
    // attach to a running container with stdin.
    let id = d.docker_ok(&[
        "run",
        "-d",
        "-i",
        "busybox",
        "sh",
        "-c",
        "read l; echo got:$l",
    ]);
    let mut child = d
        .docker_command()
        .args(["attach", id.trim()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "got:hello\n");
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn docker_run_interactive_and_exec_stdin() {
    let Some(d) = docker_daemon() else { return };
    let o = d.docker_stdin(&["run", "--rm", "-i", "busybox", "wc", "-c"], b"12345");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "5");
    let id = d.docker_ok(&["run", "-d", "busybox", "sleep", "100"]);
    let o = d.docker_stdin(&["exec", "-i", id.trim(), "tr", "a-z", "A-Z"], b"shout");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "SHOUT");
    let (so, _, code) = out(&d.docker(&["exec", id.trim(), "sh", "-c", "exit 7"]));
    assert_eq!((so.as_str(), code), ("", Some(7)));
    let (_, se, code) = out(&d.docker(&["exec", id.trim(), "/no/such"]));
    assert_eq!(code, Some(127), "{se}");
}

#[test]
fn docker_image_group_commands() {
    let Some(d) = docker_daemon() else { return };
    assert_eq!(
        d.docker_ok(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]),
        "busybox:latest\n"
    );
    d.docker_ok(&["image", "tag", "busybox", "bb:two"]);
    let hist = d.docker_ok(&["image", "history", "-q", "bb:two"]);
    assert!(!hist.trim().is_empty());
    let rootfs = test_images().join("rootfs.tar");
    let id = d.docker_ok(&[
        "image",
        "import",
        "-c",
        "CMD [\"echo\",\"imported\"]",
        rootfs.to_str().unwrap(),
        "imp:1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(d.docker_ok(&["run", "--rm", "imp:1"]), "imported\n");
    // The top-level form, from stdin.
    let o = d.docker_stdin(&["import", "-", "imp:2"], &std::fs::read(&rootfs).unwrap());
    assert!(o.status.success(), "{:?}", out(&o));
    assert_eq!(
        d.docker_ok(&["run", "--rm", "imp:2", "cat", "/etc/hostname"])
            .lines()
            .count(),
        1
    );
    let tar = d.dir.path().join("two.tar");
    d.docker_ok(&["image", "save", "-o", tar.to_str().unwrap(), "bb:two"]);
    d.docker_ok(&["image", "rm", "bb:two"]);
    let (_, se, code) = out(&d.docker(&["image", "inspect", "bb:two"]));
    assert_eq!(code, Some(1));
    assert!(se.contains("No such image"), "{se}");
    let loaded = d.docker_ok(&["image", "load", "-i", tar.to_str().unwrap()]);
    assert!(loaded.contains("bb:two"), "{loaded}");
    let pruned = d.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
}

#[test]
fn docker_system_info_events_prune() {
    let Some(d) = docker_daemon() else { return };
    let info = d.docker_ok(&["system", "info", "--format", "{{.Images}} {{.Driver}}"]);
    assert_eq!(info, "1 overlay2\n");
    let since = d.docker_ok(&["system", "info", "--format", "{{.SystemTime}}"]);
    d.docker_ok(&["run", "--name", "ev", "busybox", "true"]);
    let until = d.docker_ok(&["system", "info", "--format", "{{.SystemTime}}"]);
    let ev = d.docker_ok(&[
        "system",
        "events",
        "--since",
        since.trim(),
        "--until",
        until.trim(),
        "--filter",
        "container=ev",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = ev.lines().collect();
    assert_eq!(actions, ["create", "attach", "start", "die"], "{ev}");
    let pruned = d.docker_ok(&["system", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers:"), "{pruned}");
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
    let df = d.docker_ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(
        df.starts_with("Images 1\nContainers 0\nLocal Volumes 0\n"),
        "{df}"
    );
}

#[test]
fn docker_inspect_any_object_and_filters() {
    let Some(d) = docker_daemon() else { return };
    d.docker_ok(&["volume", "create", "vol1"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "tier=front",
        "busybox",
        "sleep",
        "100",
    ]);
    d.docker_ok(&[
        "run",
        "--name",
        "done",
        "--label",
        "tier=back",
        "busybox",
        "true",
    ]);
    // An image, a container and a volume in one call.
    let objs = d.docker_ok(&["inspect", "-f", "{{json .}}", "busybox", "web", "vol1"]);
    assert_eq!(objs.lines().count(), 3, "{objs}");
    assert!(
        objs.lines().nth(2).unwrap().contains("\"Name\":\"vol1\""),
        "{objs}"
    );
    let (_, se, code) = out(&d.docker(&["inspect", "nothing-here"]));
    assert_eq!(code, Some(1));
    assert!(se.contains("No such object: nothing-here"), "{se}");
    let f = |args: &[&str]| d.docker_ok(args);
    assert_eq!(
        f(&[
            "ps",
            "--filter",
            "label=tier=front",
            "--format",
            "{{.Names}}"
        ]),
        "web\n"
    );
    assert_eq!(
        f(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}"
        ]),
        "done\n"
    );
    assert_eq!(
        f(&["ps", "-a", "--filter", "ancestor=busybox", "-q"])
            .lines()
            .count(),
        2
    );
    let table = f(&["ps", "--format", "table {{.Names}}\t{{.Status}}"]);
    assert!(
        table.starts_with("NAMES     STATUS\nweb       Up "),
        "{table}"
    );
    assert_eq!(f(&["volume", "ls", "--filter", "name=vol", "-q"]), "vol1\n");
}

/// The docker commands the tests run (`docker(&["volume", "ls", …])` and friends), as
/// `volume ls` for management groups and `ps` for top-level commands.
fn commands_the_suite_runs() -> std::collections::BTreeSet<String> {
    const GROUPS: [&str; 11] = [
        "checkpoint",
        "container",
        "image",
        "volume",
        "network",
        "system",
        "builder",
        "context",
        "manifest",
        "plugin",
        "trust",
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut out = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let src = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for call in [
            ".docker(",
            ".docker_ok(",
            ".docker_stdin(",
            ".docker_command()",
        ] {
            let mut rest = src.as_str();
            while let Some(i) = rest.find(call) {
                rest = &rest[i + call.len()..];
                let t = rest.trim_start();
                let Some(args) = t.strip_prefix("&[").or_else(|| t.strip_prefix(".args([")) else {
                    continue;
                };
                let mut words = Vec::new();
                let mut s = args;
                for _ in 0..2 {
                    let t = s.trim_start();
                    let Some(t) = t.strip_prefix('"') else { break };
                    let Some(end) = t.find('"') else { break };
                    words.push(t[..end].to_string());
                    s = t[end + 1..].trim_start().strip_prefix(',').unwrap_or("");
                }
                match words.as_slice() {
                    [g, sub, ..] if GROUPS.contains(&g.as_str()) => {
                        out.insert(format!("{g} {sub}"));
                    }
                    [c, ..] => {
                        out.insert(c.clone());
                    }
                    [] => {}
                }
            }
        }
    }
    out
}

#[test]
fn compatibility_table_is_backed_by_the_suite() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/COMPATIBILITY.md"),
    )
    .unwrap();
    let covered = commands_the_suite_runs();
    let mut rows = 0;
    let mut backed = 0;
    for line in doc.lines() {
        // | `docker volume ls` | works | … |
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let Some(cmd) = cells[1]
            .strip_prefix("`docker ")
            .and_then(|c| c.strip_suffix('`'))
        else {
            continue;
        };
        rows += 1;
        let status = cells[2];
        let alias = cmd
            .strip_prefix("container ")
            .or(cmd.strip_prefix("image "));
        let runs = covered.contains(cmd) || alias.is_some_and(|a| covered.contains(a));
        if status.starts_with("works") || status.starts_with("partial") {
            assert!(
                runs,
                "COMPATIBILITY.md says `docker {cmd}` {status}, but no test runs it"
            );
            backed += 1;
        }
    }
    for c in &covered {
        assert!(
            doc.contains(&format!("`docker {c}`")),
            "the suite runs `docker {c}` but COMPATIBILITY.md has no row for it"
        );
    }
    assert!(rows > 60, "only {rows} rows");
    println!(
        "{backed} of {rows} docker commands are backed by the suite ({} distinct commands run)",
        covered.len()
    );
}

#[test]
fn docker_client_side_commands_and_refusals() {
    let Some(d) = docker_daemon() else { return };
    // A context pointing at pouchd is how users switch the docker CLI over.
    d.docker_ok(&[
        "context",
        "create",
        "pouch",
        "--docker",
        &format!("host={}", d.host()),
    ]);
    let ls = d.docker_ok(&["context", "ls", "--format", "{{.Name}}"]);
    assert!(ls.lines().any(|l| l == "pouch"), "{ls}");
    let v = std::process::Command::new("docker")
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .env_remove("DOCKER_HOST")
        .args([
            "--context",
            "pouch",
            "version",
            "--format",
            "{{.Server.APIVersion}}",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&v.stdout), "1.47\n");
    // Commands pouch does not serve say so.
    let (_, se, code) = out(&d.docker(&["search", "busybox"]));
    assert_eq!(code, Some(1));
    assert!(se.contains("searching is not supported"), "{se}");
    let pruned = d.docker_ok(&["builder", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space: 0B"), "{pruned}");
}

#[test]
fn docker_network_group_and_port() {
    let Some(d) = docker_daemon() else { return };
    d.docker_ok(&["network", "create", "--label", "t=1", "suite-net"]);
    let ls = d.docker_ok(&[
        "network",
        "ls",
        "--filter",
        "label=t=1",
        "--format",
        "{{.Name}} {{.Driver}}",
    ]);
    assert_eq!(ls, "suite-net bridge\n");
    let srv = ["run", "-d", "--name", "srv", "--network", "suite-net"];
    d.docker_ok(&[&srv[..], &HTTPD].concat());
    d.docker_ok(&["run", "-d", "--name", "cli", "busybox", "sleep", "100"]);
    d.docker_ok(&["network", "connect", "--alias", "web", "suite-net", "cli"]);
    let members = d.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{len .Containers}}",
        "suite-net",
    ]);
    assert_eq!(members, "2\n");
    let ip = d.docker_ok(&[
        "inspect",
        "-f",
        "{{(index .NetworkSettings.Networks \"suite-net\").IPAddress}}",
        "srv",
    ]);
    let url = format!("http://{}/hostname", ip.trim());
    d.wait_for(20, "srv answers over the user network", || {
        out(&d.docker(&["exec", "cli", "timeout", "3", "wget", "-qO-", &url])).2 == Some(0)
    });
    d.docker_ok(&["network", "disconnect", "suite-net", "cli"]);
    let (_, _, code) = out(&d.docker(&["exec", "cli", "timeout", "3", "wget", "-qO-", &url]));
    // wget fails at once (no route) or busybox's timeout stops it (143).
    assert!(
        matches!(code, Some(1) | Some(143)),
        "still reachable after disconnect: {code:?}"
    );
    let (_, se, code) = out(&d.docker(&["network", "rm", "suite-net"]));
    assert_eq!(code, Some(1));
    assert!(se.contains("active endpoints"), "{se}");
    d.docker_ok(&["rm", "-f", "srv", "cli"]);
    d.docker_ok(&["network", "rm", "suite-net"]);
    d.docker_ok(&["network", "create", "spare"]);
    let pruned = d.docker_ok(&["network", "prune", "-f"]);
    assert!(pruned.contains("spare"), "{pruned}");

    // Published ports as docker reports them.
    let publish = ["run", "-d", "--name", "pub", "-p", "127.0.0.1::80"];
    d.docker_ok(&[&publish[..], &HTTPD].concat());
    let p = d.docker_ok(&["port", "pub"]);
    let (spec, addr) = p.trim().split_once(" -> ").unwrap();
    assert_eq!(spec, "80/tcp");
    assert!(addr.starts_with("127.0.0.1:"), "{p}");
    assert_eq!(
        d.docker_ok(&["container", "port", "pub", "80"]).trim(),
        addr
    );
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    d.wait_for(20, "published port answers", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

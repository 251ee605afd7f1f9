//! Examples shown at the end of each command's `--help`, kept in one table so every command has
//! some and they are easy to review together. Group subcommands (`container run`, `image ls`)
//! share the examples of their top-level twin.

use clap::Command;

const EXAMPLES: &[(&str, &str)] = &[
    (
        "version",
        "pouch version\n  pouch version --format '{{.Server.APIVersion}}'",
    ),
    (
        "info",
        "pouch info\n  pouch info --format '{{.CgroupVersion}}'",
    ),
    (
        "images",
        "pouch images\n  pouch images --filter dangling=true -q\n  pouch images --format '{{.Repository}}:{{.Tag}} {{.Size}}'",
    ),
    (
        "ls",
        "pouch image ls busybox\n  pouch container ls -a\n  pouch volume ls --filter dangling=true",
    ),
    (
        "inspect",
        "pouch inspect web\n  pouch inspect -f '{{.State.Status}}' web\n  pouch inspect --type image busybox",
    ),
    (
        "tag",
        "pouch tag busybox registry.example.com:5000/me/busybox:v1",
    ),
    (
        "rmi",
        "pouch rmi busybox:old\n  pouch rmi -f $(pouch images -q --filter dangling=true)",
    ),
    (
        "history",
        "pouch history busybox\n  pouch history --no-trunc -q busybox",
    ),
    (
        "load",
        "pouch load -i busybox.tar\n  gunzip -c image.tar.gz | pouch load",
    ),
    (
        "save",
        "pouch save -o busybox.tar busybox:latest\n  pouch save busybox | gzip > busybox.tar.gz",
    ),
    (
        "import",
        "pouch import rootfs.tar mine:1\n  pouch import -c 'CMD [\"sh\"]' - mine:2 < rootfs.tar",
    ),
    (
        "pull",
        "pouch pull busybox\n  pouch pull --platform linux/arm64 registry.example.com/app:1.2\n  pouch pull busybox@sha256:<digest>",
    ),
    (
        "push",
        "pouch tag app:1 registry.example.com:5000/team/app:1\n  pouch push registry.example.com:5000/team/app:1",
    ),
    (
        "login",
        "pouch login registry.example.com:5000\n  echo \"$TOKEN\" | pouch login -u me --password-stdin registry.example.com",
    ),
    ("logout", "pouch logout registry.example.com:5000"),
    (
        "run",
        "pouch run --rm busybox echo hello\n  pouch run -d --name web -p 127.0.0.1:8080:80 busybox httpd -f -p 80\n  pouch run -it -v data:/data --tmpfs /run:size=16m busybox sh\n  pouch run -m 256m --cpus 0.5 --pids-limit 100 --enable-lxcfs busybox top",
    ),
    (
        "create",
        "pouch create --name job -v /srv/in:/in:ro busybox ls /in\n  pouch create --restart on-failure:3 busybox false",
    ),
    ("start", "pouch start job\n  pouch start -a -i job"),
    ("stop", "pouch stop web\n  pouch stop -t 30 web db"),
    ("restart", "pouch restart web\n  pouch restart -t 0 web"),
    ("kill", "pouch kill web\n  pouch kill -s HUP web"),
    (
        "rm",
        "pouch rm job\n  pouch rm -f -v web\n  pouch volume rm data",
    ),
    ("pause", "pouch pause web"),
    ("unpause", "pouch unpause web"),
    ("rename", "pouch rename web web-old"),
    ("wait", "pouch wait job"),
    (
        "attach",
        "pouch attach web\n  pouch attach --detach-keys ctrl-x web",
    ),
    (
        "logs",
        "pouch logs web\n  pouch logs -f --tail 10 -t web\n  pouch logs --since 10m web",
    ),
    (
        "ps",
        "pouch ps\n  pouch ps -a --filter status=exited -q\n  pouch ps --filter volume=data --format '{{.Names}} {{.Mounts}}'",
    ),
    (
        "exec",
        "pouch exec web ls /\n  pouch exec -it web sh\n  pouch exec -u nobody -e DEBUG=1 -w /tmp web env",
    ),
    ("top", "pouch top web\n  pouch top web -o pid,comm"),
    ("stats", "pouch stats\n  pouch stats --no-stream web"),
    (
        "update",
        "pouch update -m 512m --memory-swap 1g web\n  pouch update --cpus 1.5 --restart always web\n  pouch update --disk-quota 20g web",
    ),
    ("port", "pouch port web\n  pouch port web 80/tcp"),
    (
        "cp",
        "pouch cp web:/etc/hostname .\n  pouch cp ./config.json web:/etc/app/\n  tar c dir | pouch cp - web:/srv",
    ),
    (
        "export",
        "pouch export -o web.tar web\n  pouch export web | tar t",
    ),
    ("diff", "pouch diff web"),
    (
        "commit",
        "pouch commit web web:snapshot\n  pouch commit -c 'CMD [\"httpd\",\"-f\"]' -m 'configured' web web:2",
    ),
    (
        "create-volume",
        "pouch volume create data\n  pouch volume create -o size=10g quota-data\n  pouch volume create -d local -o type=tmpfs -o device=tmpfs -o o=size=64m scratch",
    ),
    (
        "prune",
        "pouch container prune -f\n  pouch image prune -a -f\n  pouch volume prune -a -f\n  pouch system prune -f --volumes",
    ),
    (
        "df",
        "pouch system df\n  pouch system df --format '{{.Type}}: {{.Size}} ({{.Reclaimable}} reclaimable)'",
    ),
    (
        "image",
        "pouch image ls\n  pouch image pull busybox\n  pouch image prune -f",
    ),
    (
        "container",
        "pouch container ls -a\n  pouch container run --rm busybox true\n  pouch container prune -f",
    ),
    (
        "volume",
        "pouch volume create data\n  pouch volume ls\n  pouch volume rm data",
    ),
    (
        "network",
        "pouch network create --subnet 10.10.0.0/24 app\n  pouch network ls\n  pouch network rm app",
    ),
    (
        "network-create",
        "pouch network create app\n  pouch network create --subnet 10.10.0.0/24 --gateway 10.10.0.254 --ip-range 10.10.0.128/25 app\n  pouch network create --internal --label team=a backend",
    ),
    (
        "network-ls",
        "pouch network ls\n  pouch network ls --filter driver=bridge -q",
    ),
    (
        "network-inspect",
        "pouch network inspect app\n  pouch network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' app",
    ),
    ("network-rm", "pouch network rm app backend"),
    ("network-prune", "pouch network prune -f"),
    (
        "connect",
        "pouch network connect app web\n  pouch network connect --ip 10.10.0.9 --alias db app store",
    ),
    ("disconnect", "pouch network disconnect app web"),
    (
        "system",
        "pouch system info\n  pouch system df\n  pouch system prune -f",
    ),
    (
        "completion",
        "pouch completion bash > /etc/bash_completion.d/pouch\n  pouch completion zsh > \"${fpath[1]}/_pouch\"\n  pouch completion fish > ~/.config/fish/completions/pouch.fish",
    ),
];

fn examples_for(name: &str, parent: Option<&str>) -> Option<&'static str> {
    let key = match (parent, name) {
        (Some("volume"), "create") => "create-volume",
        (Some("volume"), "rm") => "rm",
        (Some("image"), "rm") => "rmi",
        (Some("network"), "create") => "network-create",
        (Some("network"), "ls") => "network-ls",
        (Some("network"), "inspect") => "network-inspect",
        (Some("network"), "rm") => "network-rm",
        (Some("network"), "prune") => "network-prune",
        _ => name,
    };
    EXAMPLES.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Adds an `Examples:` section to every command and subcommand that has none yet.
pub fn add(cmd: Command) -> Command {
    fn walk(cmd: Command, parent: Option<&str>) -> Command {
        let name = cmd.get_name().to_string();
        let mut cmd = cmd;
        if cmd.get_after_help().is_none() {
            if let Some(ex) = examples_for(&name, parent) {
                cmd = cmd.after_help(format!("Examples:\n  {ex}"));
            }
        }
        let subs: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        for s in subs {
            let n = name.clone();
            cmd = cmd.mut_subcommand(s, |c| walk(c, Some(&n)));
        }
        cmd
    }
    walk(cmd, None)
}

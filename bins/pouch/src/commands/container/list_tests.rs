use super::*;

const NOW: i64 = 1_700_000_000;

fn container() -> Value {
    json!({
        "Id": "0123456789abcdef0123456789abcdef",
        "Names": ["/web"],
        "Image": "docker.io/library/nginx:1.25@sha256:feed",
        "ImageID": "sha256:aaaa",
        "Command": "/docker-entrypoint.sh nginx -g 'daemon off;'",
        "Created": NOW - 5,
        "State": "running",
        "Status": "Up 5 seconds",
        "Ports": [],
        "Labels": {"z": "1", "a": "2"},
        "SizeRw": 12,
        "SizeRootFs": 0,
        "Mounts": [{"Name": "0123456789abcdef0123", "Source": "/x", "Driver": "local"}],
        "NetworkSettings": {"Networks": {"bridge": {}}}
    })
}

#[test]
fn row_fields_like_docker() {
    let row = display_row(&container(), true, NOW);
    assert_eq!(row["ID"], "0123456789ab");
    assert_eq!(row["Image"], "nginx:1.25");
    assert_eq!(row["Command"], "\"/docker-entrypoint.…\"");
    assert_eq!(row["RunningFor"], "5 seconds ago");
    assert_eq!(row["Status"], "Up 5 seconds");
    assert_eq!(row["State"], "running");
    assert_eq!(row["Names"], "web");
    assert_eq!(row["Labels"], "a=2,z=1");
    assert_eq!(row["Mounts"], "0123456789abcd…");
    assert_eq!(row["LocalVolumes"], "1");
    assert_eq!(row["Networks"], "bridge");
    assert_eq!(row["Size"], "12B");

    let full = display_row(&container(), false, NOW);
    assert_eq!(full["ID"], "0123456789abcdef0123456789abcdef");
    assert_eq!(full["Image"], "docker.io/library/nginx:1.25@sha256:feed");
    assert_eq!(
        full["Command"],
        "\"/docker-entrypoint.sh nginx -g 'daemon off;'\""
    );
}

#[test]
fn statuses_are_shown_as_sent() {
    for status in [
        "Created",
        "Up 2 minutes (Paused)",
        "Exited (0) 3 seconds ago",
        "Restarting (1) 2 seconds ago",
    ] {
        let mut c = container();
        c["Status"] = json!(status);
        assert_eq!(display_row(&c, true, NOW)["Status"], status);
    }
}

#[test]
fn commands_are_quoted_and_shortened() {
    assert_eq!(go_quote("sh"), "\"sh\"");
    assert_eq!(
        go_quote("echo \"hi\"\n\t\\"),
        "\"echo \\\"hi\\\"\\n\\t\\\\\""
    );
    assert_eq!(go_quote("\u{1}é…"), "\"\\x01é…\"");
    let mut c = container();
    c["Command"] = json!("sleep 3600");
    assert_eq!(display_row(&c, true, NOW)["Command"], "\"sleep 3600\"");
    c["Command"] = json!("12345678901234567890");
    assert_eq!(
        display_row(&c, true, NOW)["Command"],
        "\"12345678901234567890\""
    );
    c["Command"] = json!("123456789012345678901");
    assert_eq!(
        display_row(&c, true, NOW)["Command"],
        "\"1234567890123456789…\""
    );
}

#[test]
fn images_and_names() {
    let mut c = container();
    c["Image"] = json!("sha256:aaaa");
    assert_eq!(display_row(&c, true, NOW)["Image"], "aaaa");
    c["Image"] = json!("");
    assert_eq!(display_row(&c, true, NOW)["Image"], "<no image>");
    c["Image"] = json!("localhost:5000/app");
    assert_eq!(display_row(&c, true, NOW)["Image"], "localhost:5000/app");
    c["Names"] = json!(["/other/alias", "/web"]);
    assert_eq!(display_row(&c, true, NOW)["Names"], "web");
    assert_eq!(display_row(&c, false, NOW)["Names"], "other/alias,web");
}

#[test]
fn ports_like_docker() {
    let p = |ip: &str, private: u16, public: u16, kind: &str| json!({"IP": ip, "PrivatePort": private, "PublicPort": public, "Type": kind});
    assert_eq!(displayable_ports(&[]), "");
    assert_eq!(
        displayable_ports(&[p("0.0.0.0", 80, 8080, "tcp"), p("::", 80, 8080, "tcp")]),
        "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
    );
    assert_eq!(
        displayable_ports(&[
            p("", 9001, 0, "tcp"),
            p("", 9000, 0, "tcp"),
            p("", 53, 0, "udp")
        ]),
        "53/udp, 9000-9001/tcp"
    );
    assert_eq!(
        displayable_ports(&[
            p("0.0.0.0", 7000, 7000, "tcp"),
            p("0.0.0.0", 7001, 7001, "tcp")
        ]),
        "0.0.0.0:7000-7001->7000-7001/tcp"
    );
    assert_eq!(
        displayable_ports(&[p("", 1, 0, "tcp"), p("", 3, 0, "tcp")]),
        "1/tcp, 3/tcp"
    );
}

#[test]
fn formats_follow_docker() {
    assert_eq!(choose_format("", true, false), "{{.ID}}");
    assert_eq!(
        choose_format("table", false, true),
        format!("{TABLE}\t{{{{.Size}}}}")
    );
    assert_eq!(choose_format("{{.Names}}", true, false), "{{.ID}}");
    assert_eq!(choose_format("{{.Names}}", false, false), "{{.Names}}");
    let out = Format::parse(TABLE, TABLE)
        .unwrap()
        .render(&[display_row(&container(), true, NOW)], HEADERS)
        .unwrap();
    assert_eq!(
        out,
        "CONTAINER ID   IMAGE        COMMAND                  CREATED         STATUS         PORTS     NAMES\n\
         0123456789ab   nginx:1.25   \"/docker-entrypoint.…\"   5 seconds ago   Up 5 seconds             web\n"
    );
}

//! Details docker clients read, checked with the stock docker CLI against pouchd; the expected
//! values are what dockerd 20.10 printed for the same commands.

use pouch_e2e::docker_daemon;

/// `ps` shows the image as the user wrote it while that name still means the container's image,
/// and the image's short id once it does not (never another of its tags).
#[test]
fn ps_shows_the_image_as_written() {
    let Some(d) = docker_daemon() else {
        return;
    };
    d.docker_ok(&["tag", "busybox", "bb2:1"]);
    for (name, image) in [("i1", "busybox"), ("i2", "bb2:1")] {
        d.docker_ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            image,
            "sleep",
            "300",
        ]);
    }
    let ps = |filter: &str| {
        d.docker_ok(&[
            "ps",
            "--format",
            "{{.Image}}",
            "-f",
            &format!("name={filter}"),
        ])
        .trim()
        .to_string()
    };
    assert_eq!(ps("i1"), "busybox");
    assert_eq!(ps("i2"), "bb2:1");
    d.docker_ok(&["rmi", "bb2:1"]);
    let id = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    let short = &id.trim().trim_start_matches("sha256:")[..12];
    assert_eq!(ps("i2"), short);
    d.docker_ok(&["rm", "-f", "i1", "i2"]);
}

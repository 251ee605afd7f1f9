//! CLI polish: shell completion scripts and help text.

use std::process::Command;

use pouch_e2e::{bin, out};

#[test]
fn bash_completion_completes_commands_and_flags() {
    let script = r#"
source <("$POUCH" completion bash)
COMP_WORDS=(pouch vol); COMP_CWORD=1; _pouch pouch vol pouch; echo "${COMPREPLY[*]}"
COMP_WORDS=(pouch volume cr); COMP_CWORD=2; _pouch pouch cr volume; echo "${COMPREPLY[*]}"
COMP_WORDS=(pouch run --volumes-f); COMP_CWORD=2; _pouch pouch --volumes-f run; echo "${COMPREPLY[*]}"
"#;
    let o = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("POUCH", bin("pouch"))
        .output()
        .unwrap();
    let (so, se, code) = out(&o);
    assert_eq!(code, Some(0), "{se}");
    let lines: Vec<&str> = so.lines().collect();
    assert_eq!(lines, ["volume", "create", "--volumes-from"], "{so}");
}

#[test]
fn zsh_and_fish_scripts_cover_every_command() {
    for shell in ["zsh", "fish"] {
        let (so, se, code) = out(&Command::new(bin("pouch"))
            .args(["completion", shell])
            .output()
            .unwrap());
        assert_eq!(code, Some(0), "{se}");
        for cmd in ["volume", "system", "run", "pull", "update"] {
            assert!(so.contains(cmd), "{shell} script lacks {cmd}");
        }
    }
    let (_, se, code) = out(&Command::new(bin("pouch"))
        .args(["completion", "tcsh"])
        .output()
        .unwrap());
    assert_eq!(code, Some(125), "{se}");
    assert!(se.contains("invalid value 'tcsh'"), "{se}");
}

#[test]
fn every_command_has_help() {
    let (so, _, code) = out(&Command::new(bin("pouch")).arg("--help").output().unwrap());
    assert_eq!(code, Some(0));
    let commands: Vec<String> = so
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() > 40, "{commands:?}");
    let help = |args: &[&str]| {
        let mut a = args.to_vec();
        a.push("--help");
        let (so, se, code) = out(&Command::new(bin("pouch")).args(&a).output().unwrap());
        assert_eq!(code, Some(0), "{args:?}: {se}");
        assert!(so.contains("Usage: pouch"), "{args:?}: {so}");
        assert!(
            so.contains("\nExamples:\n  pouch "),
            "{args:?} has no examples: {so}"
        );
        so
    };
    for c in &commands {
        let so = help(&[c.as_str()]);
        // Group commands: every subcommand too.
        let subs: Vec<String> = so
            .lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .filter(|s| s != "help")
            .collect();
        for s in &subs {
            help(&[c.as_str(), s.as_str()]);
        }
    }
}

#[test]
fn usage_errors_exit_125_like_docker_and_bare_groups_print_help() {
    let (_, se, code) = out(&Command::new(bin("pouch"))
        .args(["ps", "--bogus"])
        .output()
        .unwrap());
    assert_eq!(code, Some(125), "{se}");
    assert!(se.contains("--bogus"), "{se}");
    for args in [&[][..], &["volume"][..]] {
        let (so, se, code) = out(&Command::new(bin("pouch")).args(args).output().unwrap());
        assert_eq!(code, Some(0), "{args:?}: {se}");
        assert!(format!("{so}{se}").contains("Usage: pouch"), "{args:?}");
    }
}

//! docker-bench-security's verdicts beside dockpki's, on the fixtures of the tables in
//! docs/audit.md ("Verdicts on the same fixtures"). docker-bench's rules are re-stated here
//! from their definitions (owners as `stat -c %u%g` or `%U:%G`, modes as `stat -c %a` compared
//! as decimal numbers, 2.7 as greps of daemon.json and the command line); the tables say what
//! each tool concludes, and this test holds the code to them.

use std::path::Path;

use super::fixture::{Tree, DOCKER_GID};
use super::{files, listen, socket};
use crate::audit::rules;
use crate::audit::Outcome;
use crate::test_support::root_or_skip;

/// A row's cells, trimmed, for the rows of docs/audit.md's tables whose first cell is a CIS
/// item of section 2 or 3.
fn rows() -> Vec<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/audit.md");
    let text = std::fs::read_to_string(&path).expect("docs/audit.md");
    let start = text
        .find("### Verdicts on the same fixtures")
        .expect("the verdict section");
    text[start..]
        .lines()
        .filter(|l| l.starts_with("| 2.") || l.starts_with("| 3."))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// `stat -c %a` read as a decimal number, as docker-bench's `-le` does.
fn as_decimal(mode: u32) -> u32 {
    format!("{mode:o}").parse().expect("digits")
}

/// docker-bench's verdict for a file item: "pass" or "warn".
fn bench_file_verdict(item: &str, uid: u32, gid: u32, mode: u32) -> &'static str {
    let pass = match item {
        // `stat -c %u%g` equal to 00.
        "3.9" | "3.11" | "3.13" => uid == 0 && gid == 0,
        // `stat -c %U:%G` equal to root:docker / root:root.
        "3.15" => uid == 0 && gid == DOCKER_GID,
        "3.17" => uid == 0 && gid == 0,
        "3.10" | "3.12" => as_decimal(mode) <= 444,
        "3.14" => as_decimal(mode) == 400,
        "3.16" => as_decimal(mode) <= 660,
        "3.18" => as_decimal(mode) <= 644,
        other => panic!("no docker-bench rule for {other} here"),
    };
    if pass {
        "pass"
    } else {
        "warn"
    }
}

/// The host path of a file named in the table.
fn host_path(file: &str) -> &'static str {
    match file {
        "ca.pem" => "/etc/docker/pki/ca.pem",
        "server-cert.pem" => "/etc/docker/pki/server-cert.pem",
        "server-key.pem" => "/etc/docker/pki/server-key.pem",
        "docker.sock" => socket::DEFAULT_SOCKET,
        "daemon.json" => "/etc/docker/daemon.json",
        other => panic!("unknown file {other}"),
    }
}

/// dockpki's verdict for the rule of CIS `item` in `outcomes`: "finding" or "pass" (a rule
/// that does not apply counts as a pass).
fn dockpki_verdict(outcomes: &[Outcome], ids: &[&str]) -> &'static str {
    let found = outcomes
        .iter()
        .filter(|o| ids.contains(&o.id()))
        .any(|o| o.finding().is_some());
    if found {
        "finding"
    } else {
        "pass"
    }
}

fn owner(cell: &str) -> (u32, u32) {
    let (u, g) = cell.split_once(':').expect("uid:gid");
    let gid = if g == "docker" {
        DOCKER_GID
    } else {
        g.parse().expect("gid")
    };
    (u.parse().expect("uid"), gid)
}

#[test]
fn docker_bench_and_dockpki_verdicts_are_the_documented_ones() {
    if !root_or_skip() {
        return;
    }
    let rows = rows();
    let mut files_seen = 0;
    let mut configs_seen = 0;
    for row in &rows {
        let item = row[0].as_str();
        if item.starts_with("3.") {
            let [_, file, owner_cell, mode_cell, bench, dockpki] = &row[..] else {
                panic!("a file row has 6 cells: {row:?}");
            };
            let (uid, gid) = owner(owner_cell);
            let mode = u32::from_str_radix(mode_cell, 8).expect("octal mode");
            let tree = Tree::provisioned();
            let _socket = tree.socket(socket::DEFAULT_SOCKET);
            tree.own(socket::DEFAULT_SOCKET, 0, DOCKER_GID, 0o660);
            let path = host_path(file);
            tree.own(path, uid, gid, mode);
            let mut outcomes = tree.run(files::run);
            outcomes.extend(tree.run(socket::run));
            let rule = rules::RULES
                .iter()
                .find(|r| r.cis == Some(item))
                .unwrap_or_else(|| panic!("no rule for CIS {item}"));
            assert_eq!(
                bench_file_verdict(item, uid, gid, mode),
                bench,
                "docker-bench's verdict for {row:?}"
            );
            assert_eq!(
                dockpki_verdict(&outcomes, &[rule.id]),
                dockpki,
                "dockpki's verdict for {row:?}: {outcomes:#?}"
            );
            files_seen += 1;
        } else {
            let [_, config, bench, dockpki] = &row[..] else {
                panic!("a configuration row has 4 cells: {row:?}");
            };
            let tree = Tree::new(&[]);
            let (json, unit) = config_fixture(config);
            // As written: on one line, or one value a line as editors and `jq` lay it out.
            let text = json.as_ref().map(|j| {
                if config.contains("one value a line") {
                    serde_json::to_string_pretty(j).expect("json")
                } else {
                    j.to_string()
                }
            });
            if let Some(text) = &text {
                tree.file("/etc/docker/daemon.json", text, 0, 0, 0o644);
            }
            if let Some(command) = &unit {
                tree.file(
                    "/lib/systemd/system/docker.service",
                    &format!("[Service]\nExecStart=/usr/bin/{command}\n"),
                    0,
                    0,
                    0o644,
                );
            }
            assert_eq!(
                bench_27(text.as_deref(), unit.as_deref()),
                bench,
                "docker-bench's verdict for {row:?}"
            );
            let outcomes = tree.run(listen::run);
            assert_eq!(
                dockpki_verdict(
                    &outcomes,
                    &[rules::TCP_WITHOUT_TLS.id, rules::TLS_WITHOUT_VERIFY.id]
                ),
                dockpki,
                "dockpki's verdict for {row:?}: {outcomes:#?}"
            );
            configs_seen += 1;
        }
    }
    assert!(
        files_seen >= 20 && configs_seen >= 5,
        "the tables were read: {rows:?}"
    );
}

/// The daemon.json or unit command a configuration cell describes: "daemon.json `k: v`, …"
/// (`hosts: [a, b]` a list, `true` a boolean) or "unit `dockerd …`".
fn config_fixture(cell: &str) -> (Option<serde_json::Value>, Option<String>) {
    let quoted: Vec<&str> = cell.split('`').skip(1).step_by(2).collect();
    if cell.starts_with("unit ") {
        return (None, Some(quoted[0].to_string()));
    }
    let mut object = serde_json::Map::new();
    for pair in quoted {
        let (key, value) = pair.split_once(": ").expect("key: value");
        let value = if let Some(list) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            serde_json::Value::from(list.split(", ").collect::<Vec<_>>())
        } else {
            serde_json::Value::from(value == "true")
        };
        object.insert(key.to_string(), value);
    }
    (Some(object.into()), None)
}

/// docker-bench's 2.7: TCP when a daemon.json line matches `host.*tcp://` or a `-H` of the
/// command line is neither unix nor fd; then pass when daemon.json's `tlsverify` is true or
/// the word `tlsverify` is on the command line, warn otherwise; "info" without TCP.
fn bench_27(json_text: Option<&str>, unit: Option<&str>) -> &'static str {
    let json: Option<serde_json::Value> = json_text.map(|t| serde_json::from_str(t).expect("json"));
    let words: Vec<&str> = unit
        .map(|u| u.split_whitespace().collect())
        .unwrap_or_default();
    let hosts: Vec<&str> = words
        .windows(2)
        .filter(|w| w[0] == "-H" || w[0] == "--host")
        .map(|w| w[1])
        .collect();
    // grep reads lines: a `hosts` list laid out one value a line has no line with both.
    let tcp = json_text
        .unwrap_or_default()
        .lines()
        .any(|l| l.find("host").is_some_and(|i| l[i..].contains("tcp://")))
        || hosts
            .iter()
            .any(|h| !h.starts_with("unix://") && !h.starts_with("fd://"));
    if !tcp {
        return "info";
    }
    let file_verify = json
        .as_ref()
        .and_then(|j| j.get("tlsverify"))
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    let flag_verify = words.iter().any(|w| w.contains("tlsverify"));
    if file_verify || flag_verify {
        "pass"
    } else {
        "warn"
    }
}

#[test]
fn the_restated_rules_read_modes_as_docker_bench_does() {
    assert_eq!(as_decimal(0o644), 644);
    assert_eq!(as_decimal(0o4755), 4755);
    assert_eq!(bench_file_verdict("3.10", 0, 0, 0o333), "pass");
    assert_eq!(bench_file_verdict("3.14", 0, 0, 0), "warn");
}

//! The nftables documents pouch hands to libnftables, built from the `nftables` crate's JSON
//! schema types: our table (NAT, published ports, isolation) and our accepts in docker's
//! `DOCKER-USER` chain. Names (bridges, the table, the comment tag) only ever appear as JSON
//! string values, never as rule text; rule handles are read back from nft's JSON output.

use std::borrow::Cow;
use std::collections::HashSet;

use nftables::batch::Batch;
use nftables::expr::{
    BinaryOperation, CT, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression,
    Payload, PayloadField, Prefix,
};
use nftables::schema::{Chain, NfCmd, NfListObject, NfObject, Nftables, Rule, Table};
use nftables::stmt::{Counter, JumpTarget, Match, NAT, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::firewall::{FwNetwork, Ruleset};
use crate::{Error, Result};

/// docker's chain for user rules (iptables-nft's `ip filter` table).
const DOCKER_TABLE: &str = "filter";
const DOCKER_USER: &str = "DOCKER-USER";

type Stmts = Vec<Statement<'static>>;

fn s(v: impl Into<String>) -> Cow<'static, str> {
    Cow::Owned(v.into())
}

/// An interface name as nft must receive it to match that name exactly: a trailing `*` would
/// make it a prefix wildcard, so it is escaped; a leading `@` would make it a set reference and
/// has no escape, so such a name is refused (bridge creation refuses it too).
fn ifname(name: &str) -> Result<Expression<'static>> {
    if name.is_empty() || name.starts_with('@') || name.contains('\0') {
        return Err(Error::Invalid(format!(
            "interface name {name:?} cannot be matched by nftables"
        )));
    }
    Ok(Expression::String(match name.strip_suffix('*') {
        Some(stem) => s(format!("{stem}\\*")),
        None => s(name),
    }))
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

/// `iifname`/`oifname` `==`/`!=` `name`.
fn iface(key: MetaKey, op: Operator, name: &str) -> Result<Statement<'static>> {
    Ok(matches(meta(key), op, ifname(name)?))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(field),
        },
    )))
}

fn prefix(addr: impl ToString, len: u8) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(Expression::String(s(addr.to_string()))),
        len: u32::from(len),
    }))
}

fn ct_status() -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: Cow::Borrowed("status"),
        family: None,
        dir: None,
    }))
}

/// `ct status dnat`: the connection was destination-NATed.
fn ct_dnat() -> Statement<'static> {
    matches(ct_status(), Operator::IN, Expression::String(s("dnat")))
}

/// `ct status ! dnat` (what nft lists for `ct status & dnat == 0`).
fn ct_not_dnat() -> Statement<'static> {
    matches(
        Expression::BinaryOperation(Box::new(BinaryOperation::AND(
            ct_status(),
            Expression::String(s("dnat")),
        ))),
        Operator::EQ,
        Expression::Number(0),
    )
}

/// `fib daddr type local`: addressed to this host.
fn to_local() -> Statement<'static> {
    matches(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags: HashSet::from([FibFlag::Daddr]),
        })),
        Operator::EQ,
        Expression::String(s("local")),
    )
}

fn table(family: NfFamily, name: &str) -> NfListObject<'static> {
    NfListObject::Table(Table {
        family,
        name: s(name),
        handle: None,
    })
}

/// A base chain's type, hook and priority; `None` for a regular chain.
type Base = Option<(NfChainType, NfHook, i32)>;

/// Builds one of our tables into a batch: create-if-missing, delete, define anew (or only the
/// first two, to remove it). Every chain but `ports` is a base chain with policy accept.
struct Tab<'b> {
    batch: &'b mut Batch<'static>,
    family: NfFamily,
    name: &'b str,
}

impl<'b> Tab<'b> {
    fn reset(batch: &'b mut Batch<'static>, family: NfFamily, name: &'b str) -> Tab<'b> {
        batch.add(table(family, name));
        batch.delete(table(family, name));
        Tab {
            batch,
            family,
            name,
        }
    }

    fn define(self, chains: &[(&'static str, Base)]) -> Self {
        self.batch.add(table(self.family, self.name));
        for (chain, base) in chains {
            let mut c = Chain {
                family: self.family,
                table: s(self.name),
                name: Cow::Borrowed(*chain),
                ..Chain::default()
            };
            if let Some((kind, hook, prio)) = *base {
                (c._type, c.hook, c.prio) = (Some(kind), Some(hook), Some(prio));
                c.policy = Some(NfChainPolicy::Accept);
            }
            self.batch.add(NfListObject::Chain(c));
        }
        self
    }

    fn rule(&mut self, chain: &'static str, expr: Stmts) {
        self.batch.add(NfListObject::Rule(Rule {
            family: self.family,
            table: s(self.name),
            chain: Cow::Borrowed(chain),
            expr: expr.into(),
            ..Rule::default()
        }));
    }
}

fn masquerade() -> Statement<'static> {
    Statement::Masquerade(None)
}

fn drop() -> Statement<'static> {
    Statement::Drop(None)
}

/// `ip saddr 10.0.0.0/24` and the like.
fn addr(
    protocol: &'static str,
    field: &'static str,
    right: Expression<'static>,
) -> Statement<'static> {
    matches(payload(protocol, field), Operator::EQ, right)
}

/// The transport protocol of a published port, as nft's payload protocol.
fn transport(proto: &str) -> Result<&'static str> {
    match proto {
        "tcp" => Ok("tcp"),
        "udp" => Ok("udp"),
        "sctp" => Ok("sctp"),
        p => Err(Error::Invalid(format!("cannot publish protocol {p:?}"))),
    }
}

/// Isolation of one network in a `forward` chain: internal networks reach nothing but
/// themselves, and no network reaches another.
fn isolate(t: &mut Tab, r: &Ruleset, n: &FwNetwork) -> Result<()> {
    use MetaKey::{Iifname, Oifname};
    use Operator::{EQ, NEQ};
    let b = n.bridge.as_str();
    if n.internal {
        t.rule(
            "forward",
            vec![iface(Iifname, EQ, b)?, iface(Oifname, NEQ, b)?, drop()],
        );
        t.rule(
            "forward",
            vec![iface(Oifname, EQ, b)?, iface(Iifname, NEQ, b)?, drop()],
        );
    }
    for o in r.networks.iter().filter(|o| o.bridge != n.bridge) {
        t.rule(
            "forward",
            vec![
                iface(Iifname, EQ, b)?,
                iface(Oifname, EQ, &o.bridge)?,
                drop(),
            ],
        );
    }
    Ok(())
}

/// The batch that replaces our tables (`ip` and `ip6` called `name`) in one transaction.
pub fn render(name: &str, r: &Ruleset) -> Result<Nftables<'static>> {
    use MetaKey::{Iifname, Oifname};
    use NfChainType::Filter;
    use Operator::{EQ, NEQ};
    let mut batch = Batch::new();
    let mut t = Tab::reset(&mut batch, NfFamily::IP, name).define(&[
        ("ports", None),
        (
            "prerouting",
            Some((NfChainType::NAT, NfHook::Prerouting, -100)),
        ),
        ("output", Some((NfChainType::NAT, NfHook::Output, -100))),
        (
            "postrouting",
            Some((NfChainType::NAT, NfHook::Postrouting, 100)),
        ),
        // Isolation runs before docker's filter chains (priority filter - 10).
        ("input", Some((Filter, NfHook::Input, -10))),
        ("forward", Some((Filter, NfHook::Forward, -10))),
    ]);
    // Published ports: DNAT for traffic to a local address, from outside and from the host.
    for p in &r.ports {
        let mut e = Vec::new();
        if let Some(ip) = p.host_ip {
            e.push(addr("ip", "daddr", Expression::String(s(ip.to_string()))));
        }
        let port = Expression::Number(u32::from(p.host_port));
        e.push(addr(transport(&p.proto)?, "dport", port));
        e.push(Statement::DNAT(Some(NAT {
            addr: Some(Expression::String(s(p.container_ip.to_string()))),
            family: None,
            port: Some(Expression::Number(u32::from(p.container_port))),
            flags: None,
        })));
        t.rule("ports", e);
    }
    for chain in ["prerouting", "output"] {
        let jump = Statement::Jump(JumpTarget {
            target: Cow::Borrowed("ports"),
        });
        t.rule(chain, vec![to_local(), jump]);
    }
    let loopback = || prefix("127.0.0.0", 8);
    for n in &r.networks {
        let b = n.bridge.as_str();
        let sub = n.subnet.network();
        let subnet = || prefix(sub.addr, sub.prefix);
        // Host loopback to a published port (route_localnet): the container must answer the
        // bridge address, not 127.0.0.1.
        let from_lo = addr("ip", "saddr", loopback());
        t.rule(
            "postrouting",
            vec![iface(Oifname, EQ, b)?, from_lo, masquerade()],
        );
        // A container reaching its own network's published port through the host: hairpin.
        let from_net = addr("ip", "saddr", subnet());
        t.rule(
            "postrouting",
            vec![iface(Oifname, EQ, b)?, from_net, ct_dnat(), masquerade()],
        );
        if n.masquerade && !n.internal {
            let from_net = addr("ip", "saddr", subnet());
            t.rule(
                "postrouting",
                vec![from_net, iface(Oifname, NEQ, b)?, masquerade()],
            );
        }
    }
    // route_localnet lets published ports answer on 127.0.0.1; it must not let a container send
    // to the host's loopback services through its gateway (replies to DNATed loopback
    // connections carry the dnat status and pass).
    for n in &r.networks {
        let to_lo = addr("ip", "daddr", loopback());
        t.rule(
            "input",
            vec![iface(Iifname, EQ, &n.bridge)?, to_lo, ct_not_dnat(), drop()],
        );
    }
    for n in &r.networks {
        isolate(&mut t, r, n)?;
    }

    // IPv6: masquerade and isolation for dual-stack networks (ports are published on IPv4).
    let mut t = Tab::reset(&mut batch, NfFamily::IP6, name).define(&[
        (
            "postrouting",
            Some((NfChainType::NAT, NfHook::Postrouting, 100)),
        ),
        ("forward", Some((Filter, NfHook::Forward, -10))),
    ]);
    for n in &r.networks {
        if let Some(sub) = n.subnet6.map(|s| s.network())
            && n.masquerade
            && !n.internal
        {
            let from_net = addr("ip6", "saddr", prefix(sub.addr, sub.prefix));
            let out = iface(Oifname, NEQ, &n.bridge)?;
            t.rule("postrouting", vec![from_net, out, masquerade()]);
        }
    }
    for n in r.networks.iter().filter(|n| n.subnet6.is_some()) {
        isolate(&mut t, r, n)?;
    }
    Ok(batch.to_nftables())
}

/// Removes our tables; a missing one is fine.
pub fn remove(name: &str) -> Nftables<'static> {
    let mut batch = Batch::new();
    Tab::reset(&mut batch, NfFamily::IP, name);
    Tab::reset(&mut batch, NfFamily::IP6, name);
    batch.to_nftables()
}

/// Lists docker's DOCKER-USER chain.
pub fn list_docker_user() -> Nftables<'static> {
    let mut batch = Batch::new();
    batch.add_cmd(NfCmd::List(NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: Cow::Borrowed(DOCKER_TABLE),
        name: Cow::Borrowed(DOCKER_USER),
        ..Chain::default()
    })));
    batch.to_nftables()
}

/// Which way an accept in DOCKER-USER lets a bridge's traffic through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// `iifname`: from the bridge.
    From,
    /// `oifname`: to the bridge.
    To,
}

impl Way {
    fn key(self) -> MetaKey {
        match self {
            Way::From => MetaKey::Iifname,
            Way::To => MetaKey::Oifname,
        }
    }
}

/// One of our rules in DOCKER-USER (comment = our tag), as nft reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub handle: u32,
    /// The interfaces it matches, each as nft holds the name (escaped as [`ifname`] escapes it).
    pub matches: Vec<(Way, String)>,
}

/// The batch that deletes our accepts with handles `stale` and inserts one accept each way for
/// every bridge, all tagged with the comment `tag`: one transaction.
pub fn docker_user(tag: &str, stale: &[u32], bridges: &[&str]) -> Result<Nftables<'static>> {
    let rule = |expr: Stmts, handle| Rule {
        family: NfFamily::IP,
        table: Cow::Borrowed(DOCKER_TABLE),
        chain: Cow::Borrowed(DOCKER_USER),
        expr: expr.into(),
        handle,
        ..Rule::default()
    };
    let mut batch = Batch::new();
    for h in stale {
        batch.delete(NfListObject::Rule(rule(Vec::new(), Some(*h))));
    }
    for b in bridges {
        for way in [Way::From, Way::To] {
            let accept = vec![
                iface(way.key(), Operator::EQ, b)?,
                Statement::Counter(Counter::Anonymous(None)),
                Statement::Accept(None),
            ];
            let mut r = rule(accept, None);
            r.comment = Some(s(tag));
            batch.add_cmd(NfCmd::Insert(NfListObject::Rule(r)));
        }
    }
    Ok(batch.to_nftables())
}

/// Our rules (comment `tag`) among the rules of nft's JSON output: a listing, or the echo of
/// an insert (`{"insert": {"rule": …}}`). Objects that are not rules (docker's own rules of a
/// shape this schema does not know, metainfo) are skipped, not errors.
pub fn tagged(output: &str, tag: &str) -> Result<Vec<Tagged>> {
    #[derive(serde::Deserialize)]
    struct Doc {
        nftables: Vec<serde_json::Value>,
    }
    // With echo on, nft prints one document per command it echoes, one after the other.
    let mut objects = Vec::new();
    for d in serde_json::Deserializer::from_str(output).into_iter::<Doc>() {
        objects.extend(
            d.map_err(|e| Error::Sys(format!("nft's JSON output: {e}")))?
                .nftables,
        );
    }
    let mut out = Vec::new();
    for v in objects {
        let Ok(obj) = serde_json::from_value::<NfObject>(v) else {
            continue;
        };
        let r = match obj {
            NfObject::ListObject(NfListObject::Rule(r))
            | NfObject::CmdObject(NfCmd::Add(NfListObject::Rule(r)))
            | NfObject::CmdObject(NfCmd::Insert(NfListObject::Rule(r))) => r,
            _ => continue,
        };
        if r.comment.as_deref() != Some(tag) {
            continue;
        }
        let Some(handle) = r.handle else { continue };
        let matches = r
            .expr
            .iter()
            .filter_map(|st| match st {
                Statement::Match(Match {
                    left: Expression::Named(NamedExpression::Meta(Meta { key })),
                    right: Expression::String(name),
                    op: Operator::EQ,
                }) => match key {
                    MetaKey::Iifname => Some((Way::From, name.to_string())),
                    MetaKey::Oifname => Some((Way::To, name.to_string())),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        out.push(Tagged { handle, matches });
    }
    Ok(out)
}

/// Whether `rules` accept every bridge's traffic both ways.
pub fn accepts_cover(rules: &[Tagged], bridges: &[&str]) -> bool {
    bridges.iter().all(|b| {
        let Ok(Expression::String(want)) = ifname(b) else {
            return false;
        };
        [Way::From, Way::To].iter().all(|w| {
            rules
                .iter()
                .any(|r| r.matches.iter().any(|(way, n)| way == w && *n == want))
        })
    })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use serde_json::{Value, json};

    use super::*;
    use crate::firewall::{FwNetwork, PortMap};

    fn net(bridge: &str, subnet: &str, internal: bool, subnet6: Option<&str>) -> FwNetwork {
        FwNetwork {
            bridge: bridge.into(),
            subnet: subnet.parse().unwrap(),
            internal,
            masquerade: true,
            subnet6: subnet6.map(|s| s.parse().unwrap()),
        }
    }

    fn sample(b0: &str, b1: &str) -> Ruleset {
        Ruleset {
            networks: vec![
                net(b0, "10.5.0.1/24", false, None),
                net(b1, "10.6.0.0/24", true, Some("fd00:6::/64")),
            ],
            ports: vec![PortMap {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 8080,
                proto: "tcp".into(),
                container_ip: Ipv4Addr::new(10, 5, 0, 2),
                container_port: 80,
            }],
        }
    }

    fn json_of(d: &Nftables) -> Value {
        serde_json::to_value(d).unwrap()
    }

    /// The `expr` of every rule added to `family`'s `chain`.
    fn rules_of(doc: &Value, family: &str, chain: &str) -> Vec<Value> {
        doc["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["add"].get("rule"))
            .filter(|r| r["family"] == family && r["chain"] == chain)
            .map(|r| r["expr"].clone())
            .collect()
    }

    fn ifm(key: &str, op: &str, name: &str) -> Value {
        json!({"match": {"op": op, "left": {"meta": {"key": key}}, "right": name}})
    }

    #[test]
    fn renders_nat_ports_and_isolation() {
        let d = json_of(&render("pt", &sample("pb0", "pb1")).unwrap());
        let cmds = d["nftables"].as_array().unwrap();
        assert_eq!(
            cmds[0],
            json!({"add": {"table": {"family": "ip", "name": "pt"}}})
        );
        assert_eq!(
            cmds[1],
            json!({"delete": {"table": {"family": "ip", "name": "pt"}}})
        );
        assert_eq!(
            rules_of(&d, "ip", "ports"),
            vec![json!([
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "127.0.0.1"}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}},
                {"dnat": {"addr": "10.5.0.2", "port": 80}},
            ])]
        );
        let post = rules_of(&d, "ip", "postrouting");
        let saddr = |a: &str| json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": a, "len": 24}}}});
        assert!(
            post.contains(
                &json!([saddr("10.5.0.0"), ifm("oifname", "!=", "pb0"), {"masquerade": null}])
            ),
            "{post:?}"
        );
        assert!(
            !post.iter().any(|r| r[0] == saddr("10.6.0.0")),
            "internal: {post:?}"
        );
        let fwd = rules_of(&d, "ip", "forward");
        assert!(fwd.contains(
            &json!([ifm("iifname", "==", "pb0"), ifm("oifname", "==", "pb1"), {"drop": null}])
        ));
        assert!(fwd.contains(
            &json!([ifm("iifname", "==", "pb1"), ifm("oifname", "!=", "pb1"), {"drop": null}])
        ));
        assert!(rules_of(&d, "ip", "input").contains(&json!([
            ifm("iifname", "==", "pb0"),
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}}},
            {"match": {"op": "==", "left": {"&": [{"ct": {"key": "status"}}, "dnat"]}, "right": 0}},
            {"drop": null},
        ])));
        assert!(cmds.contains(&json!({"add": {"table": {"family": "ip6", "name": "pt"}}})));
        assert!(
            rules_of(&d, "ip6", "postrouting").is_empty(),
            "internal: no masquerade"
        );
        assert_eq!(rules_of(&d, "ip6", "forward").len(), 3);
    }

    /// Every string leaf of `v`, in document order.
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            Value::Object(m) => m.iter().for_each(|(k, v)| {
                out.push(format!("key:{k}"));
                strings(v, out)
            }),
            _ => {}
        }
    }

    /// Asserts that `hostile` is `plain` with only some whole string values swapped, as
    /// `swapped` maps them (plain value → hostile value); returns the hostile strings.
    fn same_but_strings(
        plain: &Nftables,
        hostile: &Nftables,
        swapped: &[(&str, &str)],
    ) -> Vec<String> {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        strings(&json_of(plain), &mut a);
        strings(&json_of(hostile), &mut b);
        assert_eq!(a.len(), b.len());
        for (p, h) in a.iter().zip(&b) {
            match swapped.iter().find(|(from, _)| from == p) {
                Some((_, to)) => assert_eq!(h, to),
                None => assert_eq!(p, h),
            }
        }
        b
    }

    /// Names full of nft syntax (quotes, `;`, `}`, newlines, `#`) change nothing in the
    /// documents but the string values that carry them: the same commands, the same keys, the
    /// name only ever a whole JSON string.
    #[test]
    fn hostile_names_are_only_json_string_values() {
        let bad_bridge = "q\"; }\n{ drop; #";
        let bad_table = "t\" { flush ruleset }\n;";
        let got = same_but_strings(
            &render("pt", &sample("pb0", "pb1")).unwrap(),
            &render(bad_table, &sample("pb0", bad_bridge)).unwrap(),
            &[("pb1", bad_bridge), ("pt", bad_table)],
        );
        assert!(got.iter().filter(|s| *s == bad_bridge).count() >= 5);

        let tag = format!("pouch:{bad_table}");
        same_but_strings(
            &docker_user("pouch:pt", &[7], &["pb0", "pb1"]).unwrap(),
            &docker_user(&tag, &[7], &["pb0", bad_bridge]).unwrap(),
            &[("pb1", bad_bridge), ("pouch:pt", &tag)],
        );
        // And the text handed to libnftables is one JSON document that reads back the same.
        let text = serde_json::to_string(&docker_user(&tag, &[], &[bad_bridge]).unwrap()).unwrap();
        assert!(!text.contains('\n'));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back["nftables"][0]["insert"]["rule"]["expr"][0],
            ifm("iifname", "==", bad_bridge)
        );
    }

    #[test]
    fn interface_names_match_exactly_or_are_refused() {
        assert_eq!(ifname("pb0").unwrap(), Expression::String("pb0".into()));
        // A trailing `*` would be a wildcard; escaped, it is the character.
        assert_eq!(ifname("br*").unwrap(), Expression::String("br\\*".into()));
        // `@name` is a set reference with no escape.
        assert!(ifname("@set").is_err());
        assert!(ifname("").is_err());
        assert!(ifname("a\0b").is_err());
        let bad = sample("pb0", "@pb1");
        assert!(render("pt", &bad).is_err());
        let mut bad = sample("pb0", "pb1");
        bad.ports[0].proto = "icmp".into();
        assert!(render("pt", &bad).is_err());
    }

    /// Handles come from nft's JSON: a listing of DOCKER-USER (with docker's own rules, one of
    /// a shape the schema does not know) and the echo of our insert batch.
    #[test]
    fn reads_our_rules_and_handles_back_from_json() {
        let listing = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            {"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER", "handle": 7}},
            {"rule": {"family": "ip", "table": "filter", "chain": "DOCKER-USER", "handle": 34, "comment": "pouch:pt", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "pb0"}}, {"counter": {"packets": 3, "bytes": 180}}, {"accept": null}]}},
            {"rule": {"family": "ip", "table": "filter", "chain": "DOCKER-USER", "handle": 33, "comment": "pouch:pt", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "pb0"}}, {"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]}},
            {"rule": {"family": "ip", "table": "filter", "chain": "DOCKER-USER", "handle": 12, "comment": "pouch:other", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "pb9"}}, {"accept": null}]}},
            {"rule": {"family": "ip", "table": "filter", "chain": "DOCKER-USER", "handle": 9, "expr": [{"frobnicate": {"x": 1}}]}},
            {"rule": {"family": "ip", "table": "filter", "chain": "DOCKER-USER", "handle": 8, "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"return": null}]}}]}
            {"nftables": [{"list": {"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER"}}}]}"#;
        let ours = tagged(listing, "pouch:pt").unwrap();
        assert_eq!(
            ours,
            vec![
                Tagged {
                    handle: 34,
                    matches: vec![(Way::To, "pb0".into())]
                },
                Tagged {
                    handle: 33,
                    matches: vec![(Way::From, "pb0".into())]
                },
            ]
        );
        assert!(accepts_cover(&ours, &["pb0"]));
        assert!(!accepts_cover(&ours, &["pb0", "pb1"]));
        assert!(!accepts_cover(&ours[..1], &["pb0"]));

        // The echo of a batch: its commands, the inserted rules now carrying handles.
        let mut echo = json_of(&docker_user("pouch:pt", &[34], &["pb1"]).unwrap());
        for (i, c) in echo["nftables"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .enumerate()
        {
            if let Some(r) = c.get_mut("insert").and_then(|i| i.get_mut("rule")) {
                r["handle"] = json!(40 + i);
            }
        }
        let made = tagged(&echo.to_string(), "pouch:pt").unwrap();
        assert_eq!(
            made.iter().map(|r| r.handle).collect::<Vec<_>>(),
            vec![41, 42]
        );
        assert!(accepts_cover(&made, &["pb1"]));
        assert!(tagged("not json", "pouch:pt").is_err());
    }
}

//! `brigade ha rules ...`: HA rules like Proxmox VE 9's `ha-manager rules`: node
//! affinity (where guests run) and resource affinity (guests together or apart).

use anyhow::Context as _;
use brigade_api::ha_rules::{RuleRequest, RuleRow};
use brigade_client::Client;
use clap::{Args, Subcommand};

use crate::connect::GlobalArgs;
use crate::output::{print_json, table};

#[derive(Args, Debug, Default)]
pub struct RuleOpts {
    /// The guests: `vm:100,ct:101`.
    #[arg(long)]
    resources: Option<String>,
    /// node-affinity: `n1:2,n2` (higher priority preferred).
    #[arg(long)]
    nodes: Option<String>,
    /// node-affinity: only these nodes; the guest stops rather than run elsewhere.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    strict: Option<bool>,
    /// resource-affinity: positive (keep together) or negative (keep apart).
    #[arg(long)]
    affinity: Option<String>,
    /// Keep the rule but do not apply it.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    disable: Option<bool>,
    #[arg(long)]
    comment: Option<String>,
}

impl RuleOpts {
    fn request(self, rule: Option<String>, kind: Option<String>) -> RuleRequest {
        RuleRequest {
            rule,
            kind,
            resources: self.resources,
            nodes: self.nodes,
            strict: self.strict,
            affinity: self.affinity,
            disable: self.disable,
            comment: self.comment,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum RulesCmd {
    /// Add a rule: `ha rules add node-affinity pin --resources vm:100 --nodes n1,n2 --strict`
    /// or `ha rules add resource-affinity apart --resources vm:100,vm:101 --affinity negative`.
    Add {
        /// node-affinity or resource-affinity.
        #[arg(value_name = "TYPE")]
        kind: String,
        rule: String,
        #[command(flatten)]
        opts: RuleOpts,
    },
    /// Every rule, with its state (enabled, disabled, infeasible and why).
    List,
    /// Change a rule: `ha rules set pin --nodes n2,n3`.
    Set {
        rule: String,
        #[command(flatten)]
        opts: RuleOpts,
    },
    /// Remove a rule.
    Remove { rule: String },
}

fn print_row(r: &RuleRow) {
    let why = r
        .reason
        .as_ref()
        .map(|w| format!(": {w}"))
        .unwrap_or_default();
    outln!("rule {} ({}, {}{why})", r.rule, r.kind, r.state);
}

pub async fn run(g: &GlobalArgs, c: &Client, cmd: RulesCmd) -> anyhow::Result<()> {
    match cmd {
        RulesCmd::Add { kind, rule, opts } => {
            let out = c
                .ha_rule_add(&opts.request(Some(rule.clone()), Some(kind)))
                .await
                .with_context(|| format!("cannot add HA rule {rule}"))?;
            if g.json() {
                return print_json(&out);
            }
            print_row(&out);
        }
        RulesCmd::Set { rule, opts } => {
            let out = c
                .ha_rule_set(&rule, &opts.request(None, None))
                .await
                .with_context(|| format!("cannot change HA rule {rule}"))?;
            if g.json() {
                return print_json(&out);
            }
            print_row(&out);
        }
        RulesCmd::Remove { rule } => {
            let out = c
                .ha_rule_remove(&rule)
                .await
                .with_context(|| format!("cannot remove HA rule {rule}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("HA rule {rule} removed");
        }
        RulesCmd::List => {
            let rules = c.ha_rules().await?;
            if g.json() {
                return print_json(&rules);
            }
            let mut t = table(&[
                "Rule",
                "Type",
                "Resources",
                "Nodes / affinity",
                "Strict",
                "State",
            ]);
            for r in &rules {
                let state = match &r.reason {
                    Some(w) => format!("{}: {w}", r.state),
                    None => r.state.clone(),
                };
                t.add_row(vec![
                    r.rule.clone(),
                    r.kind.clone(),
                    r.resources.clone(),
                    r.nodes
                        .clone()
                        .or_else(|| r.affinity.clone())
                        .unwrap_or_default(),
                    if r.kind == "node-affinity" {
                        if r.strict { "yes" } else { "no" }.to_string()
                    } else {
                        String::new()
                    },
                    state,
                ]);
            }
            outln!("{t}");
        }
    }
    Ok(())
}

//! `sdn/vnets.cfg`: `vnet: v1` with `zone`, `tag` (VLAN id or VNI), `alias`, `vlanaware`.

use crate::error::Result;
use crate::section::{self, Section};

/// The file's path in the replicated tree.
pub const VNETS_CFG: &str = "sdn/vnets.cfg";

/// One vnet: a bridge of the same name on every node of its zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vnet {
    pub id: String,
    pub zone: String,
    /// The VLAN id (vlan zones) or the VNI (vxlan zones).
    pub tag: Option<u32>,
    pub alias: Option<String>,
    pub vlanaware: bool,
    pub line: usize,
}

/// Parses vnets.cfg.
pub fn parse_vnets(text: &str) -> Result<Vec<Vnet>> {
    let file = VNETS_CFG;
    section::parse(file, text)?
        .iter()
        .map(|s| {
            if s.kind != "vnet" {
                return Err(section::section_error(
                    file,
                    s,
                    format!("unknown section type {:?} (expected vnet)", s.kind),
                ));
            }
            section::check_keys(file, s, &["zone", "tag", "alias", "vlanaware"], &[])?;
            let zone = section::get(s, "zone").ok_or_else(|| {
                section::section_error(file, s, format!("{}: a vnet needs `zone`", s.id))
            })?;
            Ok(Vnet {
                id: s.id.clone(),
                zone: zone.value.clone(),
                tag: section::get(s, "tag")
                    .map(|p| section::parse_num(file, p))
                    .transpose()?,
                alias: section::get(s, "alias").map(|p| p.value.clone()),
                vlanaware: section::get(s, "vlanaware")
                    .map(|p| section::parse_bool(file, p))
                    .transpose()?
                    .unwrap_or(false),
                line: s.line,
            })
        })
        .collect()
}

/// Writes vnets.cfg.
pub fn write_vnets(vnets: &[Vnet]) -> String {
    let sections: Vec<Section> = vnets
        .iter()
        .map(|v| {
            let mut s = Section::new("vnet", &v.id);
            s.push("zone", &v.zone);
            if let Some(tag) = v.tag {
                s.push("tag", tag);
            }
            if let Some(alias) = &v.alias {
                s.push("alias", alias);
            }
            if v.vlanaware {
                s.push("vlanaware", 1);
            }
            s
        })
        .collect();
    section::write(&sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let v = parse_vnets("vnet: v1\n\tzone z3\n\ttag 100\n\talias web tier\n\tvlanaware 1\n")
            .expect("parse");
        assert_eq!(v[0].tag, Some(100));
        assert_eq!(v[0].alias.as_deref(), Some("web tier"));
        assert!(v[0].vlanaware);
        assert_eq!(parse_vnets(&write_vnets(&v)).expect("reparse"), v);
        let e = parse_vnets("vnet: v1\n\ttag 100\n").expect_err("zone");
        assert!(
            e.to_string().contains("line 1") && e.to_string().contains("zone"),
            "{e}"
        );
        let e = parse_vnets("vnet: v1\n\tzone z\n\ttag x\n").expect_err("tag");
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = parse_vnets("vnet: v1\n\tzone z\n\tvlanaware yes\n").expect_err("bool");
        assert!(e.to_string().contains("line 3"), "{e}");
    }
}

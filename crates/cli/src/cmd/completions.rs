//! `brigade completions SHELL` and the hidden `brigade man --dir DIR`, generated from the clap definitions.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

/// `brigade completions SHELL`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for (bash, zsh, fish, elvish, powershell).
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `brigade man --dir DIR` (hidden: the package build runs it).
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Where to write brigade.1 and one brigade-SUBCOMMAND.1 per visible subcommand.
    #[arg(long)]
    pub dir: PathBuf,
}

/// Prints the completion script of `shell` for the command tree `cmd`.
pub fn completions(mut cmd: clap::Command, args: &CompletionsArgs) {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "brigade", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
}

/// Writes one man page per visible (sub)command of `cmd` into `args.dir`; returns their names.
pub fn man_pages(cmd: clap::Command, args: &ManArgs) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    clap_mangen::generate_to(cmd, &args.dir)
        .with_context(|| format!("cannot write man pages into {}", args.dir.display()))?;
    let mut pages: Vec<String> = std::fs::read_dir(&args.dir)
        .with_context(|| format!("cannot list {}", args.dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("brigade") && n.ends_with(".1"))
        .collect();
    pages.sort();
    Ok(pages)
}

/// `brigade man`: writes the pages and says how many.
pub fn man(cmd: clap::Command, args: &ManArgs, json: bool) -> anyhow::Result<()> {
    let pages = man_pages(cmd, args)?;
    if json {
        return crate::output::print_json(&serde_json::json!({
            "dir": args.dir,
            "pages": pages,
        }));
    }
    outln!(
        "wrote {} man pages into {}",
        pages.len(),
        args.dir.display()
    );
    Ok(())
}

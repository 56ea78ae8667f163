//! Asking before an operation that cannot be undone: `vm destroy` / `ct destroy`
//! want the VMID typed again on a terminal, or `--yes`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

/// Goes on when `yes` was given, or when the user types `expected` at the prompt;
/// refuses when standard input is not a terminal (a script must say `--yes`).
pub fn typed_again(what: &str, expected: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!(
            "refusing to {what} without confirmation: standard input is not a terminal; \
             add --yes to confirm"
        );
    }
    eprint!("This will {what}. Type {expected} again to confirm: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    check_answer(what, expected, &line)
}

fn check_answer(what: &str, expected: &str, line: &str) -> anyhow::Result<()> {
    if line.trim() != expected {
        anyhow::bail!(
            "not confirmed ({:?} is not {expected}): did not {what}",
            line.trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_id_confirms() {
        assert!(check_answer("destroy VM 100", "100", "100\n").is_ok());
        assert!(check_answer("destroy VM 100", "100", "  100 \r\n").is_ok());
        for bad in ["", "\n", "10", "1000", "yes", "y\n"] {
            let e = check_answer("destroy VM 100", "100", bad).expect_err(bad);
            assert!(e.to_string().contains("not confirmed"), "{e}");
        }
        assert!(typed_again("destroy VM 100", "100", true).is_ok());
    }
}

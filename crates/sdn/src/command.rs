//! One `ip`, `bridge` or `tc` command line as data, to be run on the host or in a namespace.

use std::fmt;

/// The program a [`Command`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Ip,
    Bridge,
    Tc,
}

impl Program {
    /// The executable's name.
    pub fn name(self) -> &'static str {
        match self {
            Program::Ip => "ip",
            Program::Bridge => "bridge",
            Program::Tc => "tc",
        }
    }
}

/// A command line: program and arguments (without any namespace option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub program: Program,
    pub args: Vec<String>,
}

impl Command {
    /// `ip ARGS`.
    pub fn ip(args: &[&str]) -> Command {
        Command::new(Program::Ip, args)
    }

    /// `bridge ARGS`.
    pub fn bridge(args: &[&str]) -> Command {
        Command::new(Program::Bridge, args)
    }

    /// `tc ARGS`.
    pub fn tc(args: &[&str]) -> Command {
        Command::new(Program::Tc, args)
    }

    fn new(program: Program, args: &[&str]) -> Command {
        Command {
            program,
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.program.name(), self.args.join(" "))
    }
}

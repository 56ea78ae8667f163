//! Linearizability checking: Wing and Gong's search with Lowe's memoization, as
//! Porcupine implements it. The history becomes a list of call and return entries in
//! time order; the search repeatedly picks a call whose operation the model accepts
//! from the current state, "lifts" it (and its return) out of the list and goes on
//! from the list's head; meeting a return means the operation it belongs to could not
//! be placed anywhere before it, so the last choice is undone. A cache of (set of
//! operations placed, state) prunes configurations already explored.
//!
//! Operations whose outcome is unknown get a return at infinity, as Porcupine and
//! Knossos do: they may take effect at any point after their call, or (placed after
//! everything else) never; the model's step must accept them from every state.

use std::collections::HashSet;
use std::hash::Hash;

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash;
    type Input;
    type Output;
    fn init(&self) -> Self::State;
    /// The state after `input` returned `output` from `state`; None if it cannot.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;
}

/// One operation of a history: `ret` is `u64::MAX` when it never returned.
#[derive(Debug, Clone)]
pub struct Operation<I, O> {
    pub call: u64,
    pub ret: u64,
    pub input: I,
    pub output: O,
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linearizability {
    Linearizable,
    /// No order exists. `longest` is the longest sequence of operations (indices)
    /// the search could place; `stuck` the operation whose return it could not pass.
    Violation {
        longest: Vec<usize>,
        stuck: usize,
    },
    /// The search gave up after its step budget.
    Inconclusive {
        steps: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    op: usize,
    call: bool,
    /// The call's return entry (calls only).
    matched: usize,
    prev: usize,
    next: usize,
}

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

/// The doubly linked entry list with removal and exact re-insertion (dancing links).
struct Entries {
    e: Vec<Entry>,
}

impl Entries {
    fn new<I, O>(ops: &[Operation<I, O>]) -> Self {
        // (time, 0 for calls so they sort before returns at the same time, op)
        let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, o) in ops.iter().enumerate() {
            events.push((o.call, 0, i));
            events.push((o.ret, 1, i));
        }
        events.sort_unstable();
        let mut e = vec![Entry {
            op: NIL,
            call: false,
            matched: NIL,
            prev: NIL,
            next: NIL,
        }];
        let mut ret_of = vec![NIL; ops.len()];
        for (k, &(_, kind, op)) in events.iter().enumerate() {
            let idx = k + 1;
            e.push(Entry {
                op,
                call: kind == 0,
                matched: NIL,
                prev: idx - 1,
                next: if k + 1 < events.len() { idx + 1 } else { NIL },
            });
            if kind == 1 {
                ret_of[op] = idx;
            }
        }
        e[HEAD].next = if events.is_empty() { NIL } else { 1 };
        for idx in 1..e.len() {
            if e[idx].call {
                e[idx].matched = ret_of[e[idx].op];
            }
        }
        Entries { e }
    }

    fn unlink(&mut self, i: usize) {
        let (p, n) = (self.e[i].prev, self.e[i].next);
        self.e[p].next = n;
        if n != NIL {
            self.e[n].prev = p;
        }
    }

    fn relink(&mut self, i: usize) {
        let (p, n) = (self.e[i].prev, self.e[i].next);
        self.e[p].next = i;
        if n != NIL {
            self.e[n].prev = i;
        }
    }

    /// Removes a call and its return.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.e[call].matched);
    }

    /// Puts them back, in the reverse order of removal.
    fn unlift(&mut self, call: usize) {
        self.relink(self.e[call].matched);
        self.relink(call);
    }
}

fn set_bit(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

fn clear_bit(bits: &mut [u64], i: usize) {
    bits[i / 64] &= !(1 << (i % 64));
}

/// Checks `ops` against `model`, giving up after `max_steps` steps of the search.
pub fn check<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    max_steps: u64,
) -> Linearizability {
    let mut list = Entries::new(ops);
    let mut linearized = vec![0u64; ops.len().div_ceil(64).max(1)];
    let mut cache: HashSet<(Vec<u64>, M::State)> = HashSet::new();
    let mut calls: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut entry = list.e[HEAD].next;
    let mut longest: Vec<usize> = Vec::new();
    let mut stuck = 0;
    let mut steps = 0u64;
    while list.e[HEAD].next != NIL {
        steps += 1;
        if steps > max_steps {
            return Linearizability::Inconclusive { steps };
        }
        if entry == NIL {
            // Only reachable with a malformed list; treat as a dead end.
            break;
        }
        let cur = list.e[entry];
        if cur.call {
            let op = &ops[cur.op];
            if let Some(next) = model.step(&state, &op.input, &op.output) {
                let mut bits = linearized.clone();
                set_bit(&mut bits, cur.op);
                if cache.insert((bits, next.clone())) {
                    calls.push((entry, state));
                    state = next;
                    set_bit(&mut linearized, cur.op);
                    list.lift(entry);
                    entry = list.e[HEAD].next;
                    continue;
                }
            }
            entry = cur.next;
        } else {
            if calls.len() >= longest.len() {
                longest = calls.iter().map(|(c, _)| list.e[*c].op).collect();
                stuck = cur.op;
            }
            let Some((call, prev)) = calls.pop() else {
                return Linearizability::Violation { longest, stuck };
            };
            state = prev;
            clear_bit(&mut linearized, list.e[call].op);
            list.unlift(call);
            entry = list.e[call].next;
        }
    }
    if list.e[HEAD].next == NIL {
        Linearizability::Linearizable
    } else {
        Linearizability::Violation { longest, stuck }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register of small integers: read, write.
    struct Reg;

    #[derive(Debug, Clone)]
    enum In {
        R,
        W(u8),
    }

    impl Model for Reg {
        type State = u8;
        type Input = In;
        type Output = u8;
        fn init(&self) -> u8 {
            0
        }
        fn step(&self, s: &u8, i: &In, o: &u8) -> Option<u8> {
            match i {
                In::R => (s == o).then_some(*s),
                In::W(v) => Some(*v),
            }
        }
    }

    fn op(call: u64, ret: u64, input: In, output: u8) -> Operation<In, u8> {
        Operation {
            call,
            ret,
            input,
            output,
        }
    }

    #[test]
    fn concurrent_reads_may_see_either_value() {
        let h = vec![
            op(0, 10, In::W(1), 0),
            op(1, 2, In::R, 1),
            op(3, 4, In::R, 0),
        ];
        // Both reads overlap the write, but the first saw the new value and the
        // second, later one the old value: not linearizable.
        assert!(matches!(
            check(&Reg, &h, 1_000_000),
            Linearizability::Violation { .. }
        ));
        let h = vec![
            op(0, 10, In::W(1), 0),
            op(1, 2, In::R, 0),
            op(3, 4, In::R, 1),
        ];
        assert_eq!(check(&Reg, &h, 1_000_000), Linearizability::Linearizable);
    }

    #[test]
    fn a_read_after_a_completed_write_must_see_it() {
        let h = vec![op(0, 1, In::W(1), 0), op(2, 3, In::R, 0)];
        match check(&Reg, &h, 1_000_000) {
            Linearizability::Violation { stuck, .. } => assert_eq!(stuck, 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_write_that_never_returned_may_have_happened_or_not() {
        let pending = op(0, u64::MAX, In::W(7), 0);
        let saw = vec![pending.clone(), op(5, 6, In::R, 7)];
        assert_eq!(check(&Reg, &saw, 1_000_000), Linearizability::Linearizable);
        let did_not = vec![pending, op(5, 6, In::R, 0), op(7, 8, In::R, 0)];
        assert_eq!(
            check(&Reg, &did_not, 1_000_000),
            Linearizability::Linearizable
        );
    }

    #[test]
    fn the_budget_is_reported() {
        let mut h = Vec::new();
        for k in 0..40u64 {
            h.push(op(k, u64::MAX, In::W((k % 200) as u8 + 1), 0));
        }
        h.push(op(100, 101, In::R, 250));
        assert!(matches!(
            check(&Reg, &h, 1000),
            Linearizability::Inconclusive { .. }
        ));
    }
}

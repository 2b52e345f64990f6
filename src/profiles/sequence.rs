//! A generated sequence of `tassis-v2` or `simplex-v5` turned into case steps: which
//! operation made which steps, and the model transitions each took.

use std::ops::Range;

/// One operation's part of a sequence: its steps and the model transitions (`T`) it takes.
#[derive(Debug, Clone)]
pub struct Span<T> {
    /// Index of the operation.
    pub op: usize,
    /// Its steps in the case.
    pub steps: Range<usize>,
    /// Transitions taken.
    pub transitions: Vec<T>,
}

/// A sequence interpreted: the steps (`S`) of its case and which operation made which.
#[derive(Debug, Clone)]
pub struct Plan<S, T> {
    /// The steps.
    pub steps: Vec<S>,
    /// One span per operation that did something.
    pub spans: Vec<Span<T>>,
}

impl<S, T> Default for Plan<S, T> {
    fn default() -> Self {
        Plan {
            steps: Vec::new(),
            spans: Vec::new(),
        }
    }
}

impl<S, T> Plan<S, T> {
    /// Operations that did something (the length proptest shrinks).
    pub fn effective_ops(&self) -> usize {
        self.spans.len()
    }

    /// The span of the operation that made step `step` (1-based).
    pub fn span_of(&self, step: usize) -> Option<&Span<T>> {
        self.spans
            .iter()
            .find(|s| step > 0 && s.steps.contains(&(step - 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_belongs_to_the_operation_whose_span_holds_it() {
        let plan: Plan<&str, ()> = Plan {
            steps: vec!["a", "b", "c"],
            spans: vec![
                Span {
                    op: 0,
                    steps: 0..2,
                    transitions: vec![],
                },
                Span {
                    op: 3,
                    steps: 2..3,
                    transitions: vec![],
                },
            ],
        };
        assert_eq!(plan.effective_ops(), 2);
        assert_eq!(plan.span_of(2).map(|s| s.op), Some(0));
        assert_eq!(plan.span_of(3).map(|s| s.op), Some(3));
        assert!(plan.span_of(4).is_none());
        assert!(plan.span_of(0).is_none());
    }
}

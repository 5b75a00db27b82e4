//! `stampede cost`: the cost model on hand-made records and scenarios with hand-computed answers.

//! A percentage from 0 to 100: a course's progress, or a lesson's.

use std::fmt;

/// A number that is not a percentage.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("{0} is not a percentage between 0 and 100")]
pub struct PercentageError(pub f64);

/// A finite number from 0 to 100 inclusive.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Percentage(f64);

impl Percentage {
    /// 0 %.
    pub const ZERO: Self = Self(0.0);
    /// 100 %.
    pub const FULL: Self = Self(100.0);

    /// Checks that `value` lies in `0..=100`.
    pub fn new(value: f64) -> Result<Self, PercentageError> {
        if value.is_finite() && (0.0..=100.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(PercentageError(value))
        }
    }

    /// `done` out of `total`, rounded to two decimals (1 of 3 is 33.33 %); exactly 100 only when
    /// everything is done. Nothing to do counts as 0 %, and `done` beyond `total` as 100 %.
    pub fn of(done: u64, total: u64) -> Self {
        if total == 0 {
            return Self::ZERO;
        }
        if done >= total {
            return Self::FULL;
        }
        let rounded = (done as f64 * 10_000.0 / total as f64).floor() / 100.0;
        Self(rounded.clamp(0.0, 100.0))
    }

    /// The number.
    pub fn value(self) -> f64 {
        self.0
    }

    /// Whether this is 100 %.
    pub fn is_full(self) -> bool {
        self.0 >= 100.0
    }
}

impl fmt::Display for Percentage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} %", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_are_percentages() {
        assert_eq!(Percentage::new(0.0).unwrap(), Percentage::ZERO);
        assert_eq!(Percentage::new(100.0).unwrap(), Percentage::FULL);
    }

    #[test]
    fn numbers_outside_the_range_are_refused() {
        for bad in [-0.01, 100.01, f64::NAN, f64::INFINITY] {
            assert!(Percentage::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_fraction_is_rounded_down_to_two_decimals_and_full_only_when_all_is_done() {
        assert_eq!(Percentage::of(1, 3).value(), 33.33);
        assert_eq!(Percentage::of(2, 3).value(), 66.66);
        assert_eq!(Percentage::of(1, 2).value(), 50.0);
        assert!(!Percentage::of(9_999, 10_000).is_full());
        assert!(Percentage::of(3, 3).is_full());
    }

    #[test]
    fn nothing_to_do_is_zero_and_more_than_everything_is_full() {
        assert_eq!(Percentage::of(0, 0), Percentage::ZERO);
        assert_eq!(Percentage::of(4, 3), Percentage::FULL);
    }
}

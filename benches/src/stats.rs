//! Medians and ranges of samples.
#![forbid(unsafe_code)]

use serde::Serialize;

/// Median, minimum and maximum of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// The median (mean of the two middle samples for an even count).
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
}

/// The summary of `values`, `None` when there are none.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let (first, last) = (*sorted.first()?, *sorted.last()?);
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some(Summary {
        n,
        median,
        min: first,
        max: last,
    })
}

/// `a / b`, `None` when `b` is not positive.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let odd = summarize(&[3.0, 1.0, 2.0]);
        assert_eq!(odd.map(|s| s.median), Some(2.0));
        let even = summarize(&[4.0, 1.0, 2.0, 3.0]);
        assert_eq!(
            even,
            Some(Summary {
                n: 4,
                median: 2.5,
                min: 1.0,
                max: 4.0
            })
        );
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn ratio_of_zero_is_none() {
        assert_eq!(ratio(2.0, 0.0), None);
        assert_eq!(ratio(2.0, 4.0), Some(0.5));
    }
}

//! The small dense linear algebra of the fit (p ≤ a few dozen): a pivoted solve and a symmetric
//! eigen-decomposition (cyclic Jacobi) for the pseudo-inverse of the Fisher matrix.

// Matrix code reads best with explicit row/column indices.
#![allow(clippy::needless_range_loop)]

/// A `p × p` matrix, row-major.
pub type Mat = Vec<Vec<f64>>;

/// Solves `a · x = b` by Gaussian elimination with partial pivoting; `None` when `a` is singular.
pub fn solve(a: &Mat, b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .zip(b)
        .map(|(row, &bi)| {
            let mut r = row.clone();
            r.push(bi);
            r
        })
        .collect();
    for c in 0..n {
        let piv = (c..n).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs()))?;
        if m[piv][c].abs() < 1e-300 {
            return None;
        }
        m.swap(c, piv);
        for r in c + 1..n {
            let f = m[r][c] / m[c][c];
            if f != 0.0 {
                for k in c..=n {
                    m[r][k] -= f * m[c][k];
                }
            }
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| m[i][k] * x[k]).sum();
        x[i] = (m[i][n] - s) / m[i][i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Eigenvalues and eigenvectors (columns of the returned matrix) of a symmetric matrix (cyclic Jacobi).
pub fn eigh(a: &Mat) -> (Vec<f64>, Mat) {
    let n = a.len();
    let mut m = a.clone();
    let mut v: Mat = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i][j] * m[i][j])
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if m[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (m[q][q] - m[p][p]) / (2.0 * m[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[k][p], m[k][q]);
                    m[k][p] = c * mkp - s * mkq;
                    m[k][q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[p][k], m[q][k]);
                    m[p][k] = c * mpk - s * mqk;
                    m[q][k] = s * mpk + c * mqk;
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| m[i][i]).collect(), v)
}

/// Moore–Penrose pseudo-inverse of a symmetric positive semi-definite matrix: eigenvalues below
/// `rel × largest` count as zero (directions the data do not constrain get infinite variance, reported
/// as `f64::INFINITY` on the diagonal of every parameter they touch).
pub fn pinv_psd(a: &Mat, rel: f64) -> Mat {
    let n = a.len();
    let (w, v) = eigh(a);
    let top = w.iter().cloned().fold(0.0f64, f64::max);
    let mut out = vec![vec![0.0; n]; n];
    let mut null_touch = vec![false; n];
    for (k, &wk) in w.iter().enumerate() {
        if wk <= rel * top || wk <= 0.0 {
            for i in 0..n {
                if v[i][k].abs() > 0.05 {
                    null_touch[i] = true;
                }
            }
            continue;
        }
        for i in 0..n {
            for j in 0..n {
                out[i][j] += v[i][k] * v[j][k] / wk;
            }
        }
    }
    for (i, t) in null_touch.iter().enumerate() {
        if *t {
            out[i][i] = f64::INFINITY;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_and_inverse_agree() {
        let a = vec![
            vec![4.0, 1.0, 0.5],
            vec![1.0, 3.0, 0.2],
            vec![0.5, 0.2, 2.0],
        ];
        let x = solve(&a, &[1.0, 2.0, 3.0]).unwrap();
        for i in 0..3 {
            let s: f64 = (0..3).map(|j| a[i][j] * x[j]).sum();
            assert!((s - [1.0, 2.0, 3.0][i]).abs() < 1e-12);
        }
        let inv = pinv_psd(&a, 1e-12);
        for i in 0..3 {
            for j in 0..3 {
                let s: f64 = (0..3).map(|k| a[i][k] * inv[k][j]).sum();
                assert!(
                    (s - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9,
                    "{i},{j}: {s}"
                );
            }
        }
        // A rank-deficient matrix: the null direction touches both parameters.
        let r = vec![vec![1.0, 1.0], vec![1.0, 1.0]];
        let p = pinv_psd(&r, 1e-9);
        assert!(p[0][0].is_infinite() && p[1][1].is_infinite());
        assert!(solve(&r, &[1.0, 1.0]).is_none() || solve(&r, &[1.0, 1.0]).is_some());
    }
}

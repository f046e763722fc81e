use nalgebra::Vector3;

/// A scripted motion: the displacement of an object from its configured
/// position as a function of time.
#[derive(Debug, Clone, PartialEq)]
pub enum Path {
    /// Constant velocity from t = 0.
    Linear { velocity_mps: Vector3<f64> },
    /// A horizontal circle of `radius_m` around the configured position,
    /// counter-clockwise, starting at angle `phase_rad`.
    Circle {
        radius_m: f64,
        period_secs: f64,
        phase_rad: f64,
    },
    /// Piecewise-linear through `offsets_m[i]` at `times_secs[i]` (strictly
    /// increasing); held before the first and after the last, or repeated
    /// with period `times_secs.last()` when `looped`.
    Waypoints {
        offsets_m: Vec<Vector3<f64>>,
        times_secs: Vec<f64>,
        looped: bool,
    },
}

impl Path {
    pub fn offset(&self, t_secs: f64) -> Vector3<f64> {
        match self {
            Path::Linear { velocity_mps } => velocity_mps * t_secs,
            Path::Circle {
                radius_m,
                period_secs,
                phase_rad,
            } => {
                let a = phase_rad + std::f64::consts::TAU * t_secs / period_secs;
                Vector3::new(radius_m * a.cos(), radius_m * a.sin(), 0.0)
            }
            Path::Waypoints {
                offsets_m,
                times_secs,
                looped,
            } => waypoints(offsets_m, times_secs, *looped, t_secs),
        }
    }
}

fn waypoints(points: &[Vector3<f64>], times: &[f64], looped: bool, t: f64) -> Vector3<f64> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Vector3::zeros();
    };
    let t_end = times.last().copied().unwrap_or(0.0);
    let t = if looped && t_end > 0.0 {
        t.rem_euclid(t_end)
    } else {
        t
    };
    if t <= times[0] {
        return *first;
    }
    for i in 1..points.len().min(times.len()) {
        if t <= times[i] {
            let s = (t - times[i - 1]) / (times[i] - times[i - 1]);
            return points[i - 1] + (points[i] - points[i - 1]) * s;
        }
    }
    *last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waypoints_interpolate_hold_and_loop() {
        let p = Path::Waypoints {
            offsets_m: vec![Vector3::zeros(), Vector3::new(2.0, 0.0, 0.0)],
            times_secs: vec![0.0, 2.0],
            looped: false,
        };
        assert_eq!(p.offset(1.0), Vector3::new(1.0, 0.0, 0.0));
        assert_eq!(p.offset(5.0), Vector3::new(2.0, 0.0, 0.0));
        let looped = Path::Waypoints {
            offsets_m: vec![Vector3::zeros(), Vector3::new(2.0, 0.0, 0.0)],
            times_secs: vec![0.0, 2.0],
            looped: true,
        };
        assert_eq!(looped.offset(3.0), Vector3::new(1.0, 0.0, 0.0));
        let c = Path::Circle {
            radius_m: 1.0,
            period_secs: 4.0,
            phase_rad: 0.0,
        };
        assert!((c.offset(1.0) - Vector3::new(0.0, 1.0, 0.0)).norm() < 1e-12);
    }
}

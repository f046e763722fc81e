//! The quadrotor's smooth reference shapes besides P2's eight: a circle in
//! any coordinate plane and a closed random spline drawn from a seed. Each
//! gives position and velocity (attitude level, hover input), so the MPC
//! tracks a dynamically sensible path from the first node.

#[cfg(feature = "random-spline")]
use rand::{RngExt, SeedableRng};
#[cfg(feature = "random-spline")]
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The plane a circle lies in, through its centre.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plane {
    /// Horizontal (constant height).
    #[default]
    Xy,
    /// Vertical, along x.
    Xz,
    /// Vertical, along y.
    Yz,
}

impl Plane {
    /// The two world axes spanning the plane.
    fn axes(self) -> (usize, usize) {
        match self {
            Self::Xy => (0, 1),
            Self::Xz => (0, 2),
            Self::Yz => (1, 2),
        }
    }
}

/// Writes position and velocity of a circle of `radius` about `center`
/// flown at `speed` in `plane`, starting on its first axis, counter-clockwise.
pub(super) fn circle(
    center: [f64; 3],
    radius: f64,
    speed: f64,
    plane: Plane,
    t: f64,
    position: &mut [f64],
    velocity: &mut [f64],
) {
    let w = speed / radius;
    let (s, c) = (w * t).sin_cos();
    let (a, b) = plane.axes();
    position.copy_from_slice(&center);
    velocity.fill(0.0);
    position[a] += radius * c;
    position[b] += radius * s;
    velocity[a] = -speed * s;
    velocity[b] = speed * c;
}

/// `[reference.variation]` of a circle: its speed swings as
/// `speed (1 + speed_swing sin(swing_rate_rad_s t))`, it starts at
/// `phase_rad` from the plane's first axis, runs clockwise (seen from the
/// plane's normal) when asked, and bobs across the plane as `bob_m
/// sin(bob_rate_rad_s t)`. The quadrotor pitches along such a path and
/// climbs and sinks, which a steady circle never asks of it (P2's training
/// flights fly them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircleVariation {
    pub speed_swing: f64,
    pub swing_rate_rad_s: f64,
    pub clockwise: bool,
    pub phase_rad: f64,
    pub bob_m: f64,
    pub bob_rate_rad_s: f64,
}

impl CircleVariation {
    pub(super) fn validate(&self) -> Result<(), crate::ControlError> {
        super::finite(
            "reference.variation",
            &[
                self.speed_swing,
                self.swing_rate_rad_s,
                self.phase_rad,
                self.bob_m,
                self.bob_rate_rad_s,
            ],
        )?;
        if !(0.0..1.0).contains(&self.speed_swing) {
            return Err(crate::ControlError::Parse {
                origin: "reference.variation.speed_swing".into(),
                message: format!(
                    "expected a value in [0, 1) (the speed stays positive), found {}",
                    self.speed_swing
                ),
            });
        }
        if self.speed_swing > 0.0 && self.swing_rate_rad_s <= 0.0 {
            return Err(crate::ControlError::Parse {
                origin: "reference.variation.swing_rate_rad_s".into(),
                message: format!(
                    "expected a value > 0 with a speed swing, found {}",
                    self.swing_rate_rad_s
                ),
            });
        }
        Ok(())
    }

    /// [`circle`] with this variation: position and velocity at `t`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sample(
        &self,
        center: [f64; 3],
        radius: f64,
        speed: f64,
        plane: Plane,
        t: f64,
        position: &mut [f64],
        velocity: &mut [f64],
    ) {
        let (ws, v) = (self.swing_rate_rad_s, speed);
        let (ss, sc) = (ws * t).sin_cos();
        // Arc length flown and the speed along the circle.
        let swung = if self.speed_swing == 0.0 {
            0.0
        } else {
            v * self.speed_swing / ws * (1.0 - sc)
        };
        let arc = v * t + swung;
        let speed = v * (1.0 + self.speed_swing * ss);
        let direction = if self.clockwise { -1.0 } else { 1.0 };
        let angle = self.phase_rad + direction * arc / radius;
        let w = direction * speed / radius;
        let (s, c) = angle.sin_cos();
        let (bs, bc) = (self.bob_rate_rad_s * t).sin_cos();
        let (a, b) = plane.axes();
        let normal = 3 - a - b;
        position.copy_from_slice(&center);
        position[a] += radius * c;
        position[b] += radius * s;
        position[normal] += self.bob_m * bs;
        velocity[a] = -radius * w * s;
        velocity[b] = radius * w * c;
        velocity[normal] = self.bob_m * self.bob_rate_rad_s * bc;
    }
}

/// `[reference] kind = "spline"` as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplineConfig {
    /// Draws the control points; same seed, same curve.
    pub seed: u64,
    /// Control points of the closed curve (4 to [`MAX_KNOTS`]).
    #[serde(default = "default_knots")]
    pub knots: usize,
    /// Centre of the box the control points are drawn in, m.
    pub center_m: [f64; 3],
    /// Half-sizes of that box, m (0 on an axis keeps the curve flat).
    pub half_extent_m: [f64; 3],
    /// The fastest point of the curve is flown at this speed.
    pub peak_speed_m_s: f64,
    pub hover_input: Vec<f64>,
    /// A quadrotor's attitude and rotor thrusts along the curve from its
    /// acceleration (differential flatness: thrust along `a + g`, no yaw
    /// about it) instead of hover's level attitude and thrust: at 12 m/s
    /// the hover reference asks the controller to fight the tilt the path
    /// needs. Off by default (the reference as before).
    #[serde(default)]
    pub flat_feedforward: bool,
}

fn default_knots() -> usize {
    8
}

/// The most control points a spline may have.
pub const MAX_KNOTS: usize = 64;

/// Samples of each segment's speed when the peak is searched.
const PEAK_SAMPLES_PER_SEGMENT: usize = 256;

/// A closed uniform cubic B-spline (C2: position, velocity and
/// acceleration continuous) through control points drawn uniformly in a
/// box, timed so that its fastest point is flown at the peak speed. Built
/// once when the file is read, so sampling costs one segment's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SplineConfig", into = "SplineConfig")]
pub struct Spline {
    pub config: SplineConfig,
    points: Vec<[f64; 3]>,
    /// Time per segment, s.
    segment_secs: f64,
}

impl TryFrom<SplineConfig> for Spline {
    type Error = String;

    fn try_from(config: SplineConfig) -> Result<Self, String> {
        if !(4..=MAX_KNOTS).contains(&config.knots) {
            return Err(format!(
                "`knots`: expected 4 to {MAX_KNOTS} control points, found {}",
                config.knots
            ));
        }
        let points = draw_points(&config)?;
        let mut spline = Self {
            config,
            points,
            segment_secs: 1.0,
        };
        // Peak of |dC/ds| over the curve (s in segments); the timing makes
        // it the peak speed. A degenerate curve (all points equal) keeps 1 s.
        let n = spline.points.len();
        let steps = n * PEAK_SAMPLES_PER_SEGMENT;
        let peak = (0..steps)
            .map(|k| {
                let (_, d) = spline.at_parameter(k as f64 / PEAK_SAMPLES_PER_SEGMENT as f64);
                d.iter().map(|v| v * v).sum::<f64>().sqrt()
            })
            .fold(0.0_f64, f64::max);
        let speed = spline.config.peak_speed_m_s;
        if peak > 0.0 && peak.is_finite() && speed.is_finite() && speed > 0.0 {
            spline.segment_secs = peak / speed;
        }
        Ok(spline)
    }
}

/// The control points, uniform in the box, from the seed.
#[cfg(feature = "random-spline")]
fn draw_points(config: &SplineConfig) -> Result<Vec<[f64; 3]>, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    Ok((0..config.knots)
        .map(|_| {
            std::array::from_fn(|i| {
                let unit: f64 = rng.random_range(-1.0..=1.0);
                config.center_m[i] + config.half_extent_m[i] * unit
            })
        })
        .collect())
}

#[cfg(not(feature = "random-spline"))]
fn draw_points(_: &SplineConfig) -> Result<Vec<[f64; 3]>, String> {
    Err(
        "`spline`: this build has no random generator (recede-control's \
         `random-spline` feature is off, as in firmware builds)"
            .into(),
    )
}

impl From<Spline> for SplineConfig {
    fn from(s: Spline) -> Self {
        s.config
    }
}

impl Spline {
    /// Position and derivative with respect to the parameter `s` (one unit
    /// per segment, periodic).
    fn at_parameter(&self, s: f64) -> ([f64; 3], [f64; 3]) {
        let n = self.points.len();
        let wrapped = s.rem_euclid(n as f64);
        // `as usize` saturates; `min` keeps a rounding to n inside.
        let i = (wrapped.floor() as usize).min(n - 1);
        let u = wrapped - i as f64;
        let p = |k: usize| &self.points[(i + k + n - 1) % n];
        let (u2, u3) = (u * u, u * u * u);
        let b = [
            (1.0 - u).powi(3) / 6.0,
            (3.0 * u3 - 6.0 * u2 + 4.0) / 6.0,
            (-3.0 * u3 + 3.0 * u2 + 3.0 * u + 1.0) / 6.0,
            u3 / 6.0,
        ];
        let db = [
            -(1.0 - u).powi(2) / 2.0,
            (3.0 * u2 - 4.0 * u) / 2.0,
            (-3.0 * u2 + 2.0 * u + 1.0) / 2.0,
            u2 / 2.0,
        ];
        let mut position = [0.0; 3];
        let mut derivative = [0.0; 3];
        for k in 0..4 {
            for axis in 0..3 {
                position[axis] += b[k] * p(k)[axis];
                derivative[axis] += db[k] * p(k)[axis];
            }
        }
        (position, derivative)
    }

    /// Second derivative with respect to the parameter `s`.
    fn second_derivative_at(&self, s: f64) -> [f64; 3] {
        let n = self.points.len();
        let wrapped = s.rem_euclid(n as f64);
        let i = (wrapped.floor() as usize).min(n - 1);
        let u = wrapped - i as f64;
        let p = |k: usize| &self.points[(i + k + n - 1) % n];
        let ddb = [1.0 - u, 3.0 * u - 2.0, 1.0 - 3.0 * u, u];
        let mut out = [0.0; 3];
        for (k, w) in ddb.iter().enumerate() {
            for (axis, o) in out.iter_mut().enumerate() {
                *o += w * p(k)[axis];
            }
        }
        out
    }

    /// Acceleration at `t` seconds, m/s^2.
    pub(super) fn acceleration(&self, t: f64) -> [f64; 3] {
        let d = self.second_derivative_at(t / self.segment_secs);
        d.map(|v| v / (self.segment_secs * self.segment_secs))
    }

    /// Position and velocity at `t` seconds.
    pub(super) fn sample(&self, t: f64, position: &mut [f64], velocity: &mut [f64]) {
        let (p, d) = self.at_parameter(t / self.segment_secs);
        position.copy_from_slice(&p);
        for axis in 0..3 {
            velocity[axis] = d[axis] / self.segment_secs;
        }
    }

    /// One lap of the closed curve, s.
    pub fn period_secs(&self) -> f64 {
        self.segment_secs * self.points.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spline(seed: u64, peak: f64) -> Spline {
        Spline::try_from(SplineConfig {
            seed,
            knots: 8,
            center_m: [0.0, 0.0, 3.0],
            half_extent_m: [6.0, 4.0, 1.0],
            peak_speed_m_s: peak,
            hover_input: vec![2.4525; 4],
            flat_feedforward: false,
        })
        .unwrap()
    }

    /// The acceleration is the velocity's derivative (central differences).
    #[test]
    fn the_acceleration_is_the_velocitys_derivative() {
        let sp = spline(7, 12.0);
        let h = 1e-5;
        for k in 0..200 {
            let t = 0.137 * k as f64;
            let (mut p, mut v0, mut v1) = ([0.0; 3], [0.0; 3], [0.0; 3]);
            sp.sample(t - h, &mut p, &mut v0);
            sp.sample(t + h, &mut p, &mut v1);
            let a = sp.acceleration(t);
            for axis in 0..3 {
                let fd = (v1[axis] - v0[axis]) / (2.0 * h);
                // O(h) at the knots, where the jerk jumps.
                assert!(
                    (fd - a[axis]).abs() < 1e-4 * (1.0 + a[axis].abs()),
                    "t {t}: {fd} vs {}",
                    a[axis]
                );
            }
        }
    }

    /// Velocity is the derivative of position (central differences), the
    /// curve closes on itself, and its fastest point is the peak speed.
    #[test]
    fn spline_velocity_is_the_derivative_and_peaks_at_the_speed() {
        let s = spline(7, 9.0);
        let (mut p0, mut p1, mut p, mut v, mut scratch) =
            ([0.0; 3], [0.0; 3], [0.0; 3], [0.0; 3], [0.0; 3]);
        let h = 1e-5;
        let period = s.period_secs();
        let mut peak = 0.0_f64;
        for k in 0..2000 {
            let t = period * k as f64 / 2000.0 + 0.123;
            s.sample(t - h, &mut p0, &mut scratch);
            s.sample(t + h, &mut p1, &mut scratch);
            s.sample(t, &mut p, &mut v);
            for i in 0..3 {
                let fd = (p1[i] - p0[i]) / (2.0 * h);
                assert!((fd - v[i]).abs() < 1e-5, "t {t} axis {i}: {fd} vs {}", v[i]);
            }
            peak = peak.max(v.iter().map(|x| x * x).sum::<f64>().sqrt());
            let (mut q, mut w) = ([0.0; 3], [0.0; 3]);
            s.sample(t + period, &mut q, &mut w);
            for i in 0..3 {
                assert!((q[i] - p[i]).abs() < 1e-9 && (w[i] - v[i]).abs() < 1e-9);
            }
        }
        assert!((peak - 9.0).abs() < 0.01, "peak {peak}");
        // Same seed, same curve; another seed, another.
        assert_eq!(spline(7, 9.0), s);
        assert_ne!(spline(8, 9.0).points, s.points);
    }

    #[test]
    fn circle_velocity_is_the_derivative_in_each_plane() {
        for plane in [Plane::Xy, Plane::Xz, Plane::Yz] {
            let (mut p0, mut p1, mut p, mut v, mut scratch) =
                ([0.0; 3], [0.0; 3], [0.0; 3], [0.0; 3], [0.0; 3]);
            let c = [1.0, -2.0, 3.0];
            for k in 0..100 {
                let t = 0.07 * k as f64;
                let h = 1e-6;
                circle(c, 2.5, 4.0, plane, t - h, &mut p0, &mut scratch);
                circle(c, 2.5, 4.0, plane, t + h, &mut p1, &mut scratch);
                circle(c, 2.5, 4.0, plane, t, &mut p, &mut v);
                let r: f64 = (0..3).map(|i| (p[i] - c[i]).powi(2)).sum::<f64>().sqrt();
                assert!((r - 2.5).abs() < 1e-12);
                let speed: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                assert!((speed - 4.0).abs() < 1e-12);
                for i in 0..3 {
                    assert!(((p1[i] - p0[i]) / (2.0 * h) - v[i]).abs() < 1e-6);
                }
            }
        }
    }

    /// A varied circle: velocity the derivative of position in each plane,
    /// the speed along the circle swinging about its mean, the bob across
    /// the plane; clockwise mirrors it; without variation it is the
    /// steady circle; a swing of 1 or more is refused by name.
    #[test]
    fn varied_circle_velocity_is_the_derivative() {
        let varied = CircleVariation {
            speed_swing: 0.3,
            swing_rate_rad_s: 0.8,
            clockwise: false,
            phase_rad: 0.4,
            bob_m: 0.7,
            bob_rate_rad_s: 1.1,
        };
        let c = [1.0, -2.0, 3.0];
        for plane in [Plane::Xy, Plane::Xz, Plane::Yz] {
            let (a, b) = plane.axes();
            let normal = 3 - a - b;
            let (mut p0, mut p1, mut p, mut v, mut scratch) =
                ([0.0; 3], [0.0; 3], [0.0; 3], [0.0; 3], [0.0; 3]);
            let (mut slowest, mut fastest) = (f64::INFINITY, 0.0_f64);
            for k in 0..200 {
                let t = 0.07 * k as f64;
                let h = 1e-6;
                varied.sample(c, 2.5, 4.0, plane, t - h, &mut p0, &mut scratch);
                varied.sample(c, 2.5, 4.0, plane, t + h, &mut p1, &mut scratch);
                varied.sample(c, 2.5, 4.0, plane, t, &mut p, &mut v);
                let r = ((p[a] - c[a]).powi(2) + (p[b] - c[b]).powi(2)).sqrt();
                assert!((r - 2.5).abs() < 1e-12);
                assert!((p[normal] - c[normal] - 0.7 * (1.1 * t).sin()).abs() < 1e-12);
                for i in 0..3 {
                    assert!(((p1[i] - p0[i]) / (2.0 * h) - v[i]).abs() < 1e-6);
                }
                let along = (v[a] * v[a] + v[b] * v[b]).sqrt();
                slowest = slowest.min(along);
                fastest = fastest.max(along);
            }
            assert!(
                slowest < 4.0 * 0.75 && fastest > 4.0 * 1.25,
                "{slowest} {fastest}"
            );
        }
        let mirrored = CircleVariation {
            clockwise: true,
            ..varied
        };
        let (mut p, mut q, mut v) = ([0.0; 3], [0.0; 3], [0.0; 3]);
        varied.sample(c, 2.5, 4.0, Plane::Xy, 1.3, &mut p, &mut v);
        mirrored.sample(c, 2.5, 4.0, Plane::Xy, 1.3, &mut q, &mut v);
        assert!((p[0] - q[0]).abs() > 1e-3 && (p[2] - q[2]).abs() < 1e-12);
        let steady = CircleVariation::default();
        let (mut r, mut w) = ([0.0; 3], [0.0; 3]);
        for t in [0.0, 0.5, 2.0] {
            steady.sample(c, 2.5, 4.0, Plane::Xz, t, &mut p, &mut v);
            circle(c, 2.5, 4.0, Plane::Xz, t, &mut r, &mut w);
            for i in 0..3 {
                assert!((p[i] - r[i]).abs() < 1e-12 && (v[i] - w[i]).abs() < 1e-12);
            }
        }
        let swung = CircleVariation {
            speed_swing: 1.0,
            ..varied
        };
        let e = swung.validate().unwrap_err().to_string();
        assert!(e.contains("reference.variation.speed_swing"), "{e}");
    }

    #[test]
    fn knots_out_of_range_are_refused() {
        let mut c = spline(1, 3.0).config;
        c.knots = 3;
        assert!(Spline::try_from(c.clone()).unwrap_err().contains("knots"));
        c.knots = MAX_KNOTS + 1;
        assert!(Spline::try_from(c).is_err());
    }
}

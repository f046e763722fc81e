//! Contact between the robot's body and the world: what `recede run`
//! counts as a collision.
//!
//! The body is a few balls per robot kind, sized from the robot's own
//! dimensions: a rigid body's are its model's (`Body::balls`, which keep-out
//! rows measured from the body also use), the articulated ones' are here. Every world object counts, moving ones where they are at the
//! instant; the ground counts for a free-flying body only: the cart's rail,
//! the arm's base and the ground robot's wheels sit on it by construction.
//! Between two observed states the motion is sampled finely enough that no
//! ball jumps over a surface (at most half a radius per sample).

use nalgebra::{Point3, Vector3};
use recede_model::robots::{Body, Pose, RobotConfig};

use crate::config::WorldConfig;
use crate::world::{Path, Shape};
use crate::ConfigError;

/// One ball of the body, world frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ball {
    pub center: Point3<f64>,
    pub radius_m: f64,
}

/// Most samples between two observed states (bounds the cost of a wild one).
const MAX_SAMPLES: usize = 64;
/// Balls in the largest body (the continuum arm's, [`ARM_BALLS`]).
const MAX_BALLS: usize = ARM_BALLS;
/// The continuum arm's body: this many balls spaced evenly along it up to
/// the tip.
const ARM_BALLS: usize = 16;

/// The body of `robot` at state `x` into `out` (cleared first).
pub fn body_balls(robot: &RobotConfig, x: &[f64], out: &mut Vec<Ball>) {
    out.clear();
    let ball = |c: Point3<f64>, r: f64| Ball {
        center: c,
        radius_m: r,
    };
    match robot {
        // Rigid bodies: the balls keep-out rows measured from the body
        // keep clear (`Body::balls`), about the body's position.
        RobotConfig::Quadrotor(p) => {
            let pose = Pose::Rigid {
                position_m: [x[0], x[1], x[2]],
                attitude: [x[3], x[4], x[5], x[6]],
            };
            push_balls(&p.body(), &pose, out);
        }
        RobotConfig::DiffDrive(p) => {
            push_balls(&p.body(), &Pose::planar(x[0], x[1], x[2]), out);
        }
        RobotConfig::SoftCartPole(p) => {
            // The cart on its rail at z = 0, the link's tip body.
            if let Ok(x) = <&[f64; 10]>::try_from(x) {
                let q = nalgebra::SVector::<f64, 5>::from_fn(|i, _| x[i]);
                let ([tx, tz], _) = recede_model::robots::soft_link::tip(p, &q);
                out.push(ball(Point3::new(x[0], 0.0, 0.0), 0.2));
                out.push(ball(Point3::new(tx, 0.0, tz), 0.05));
            }
        }
        RobotConfig::ContinuumArm(p) => {
            // Balls along the arm (the PCC shape of the state), base
            // excluded (it is clamped there), each of the arm's radius
            // plus a quarter of the spacing: neighbours overlap, so the
            // chain covers the body (over by at most that quarter).
            if let Ok(x) = <&[f64; 6]>::try_from(x) {
                let q = nalgebra::SVector::<f64, 3>::from_fn(|i, _| x[i]);
                let spacing = p.length_m / ARM_BALLS as f64;
                for k in 1..=ARM_BALLS {
                    let f = k as f64 / ARM_BALLS as f64;
                    let ([px, pz], _) = recede_model::robots::pcc::point_at(p, &q, f);
                    out.push(ball(Point3::new(px, 0.0, pz), p.radius_m + 0.25 * spacing));
                }
            }
        }
        RobotConfig::CartPole(p) => {
            // The cart on its rail at z = 0, the pole's tip.
            let l = p.pole_length_m;
            out.push(ball(Point3::new(x[0], 0.0, 0.0), 0.2));
            out.push(ball(
                Point3::new(x[0] - l * x[1].sin(), 0.0, l * x[1].cos()),
                0.05,
            ));
        }
        RobotConfig::Arm(p) => {
            let (l1, l2) = (p.link1_length_m, p.link2_length_m);
            let (a, b) = (x[0], x[0] + x[1]);
            let elbow = Point3::new(l1 * a.cos(), 0.0, l1 * a.sin());
            out.push(ball(elbow, 0.05));
            out.push(ball(
                elbow + Vector3::new(l2 * b.cos(), 0.0, l2 * b.sin()),
                0.05,
            ));
        }
        RobotConfig::ModelFile(f) => {
            // The drawn box's bounding ball at the mapped position, and the
            // drawn point (a tip) when it is elsewhere.
            if let Ok(m) = f.model() {
                let (position, _, point) = m.placement(x);
                let radius = 0.5 * m.box_m.iter().fold(0.0f64, |a, b| a.max(*b));
                out.push(ball(Point3::from(position), radius));
                if point != position {
                    out.push(ball(Point3::from(point), 0.05));
                }
            }
        }
    }
}

/// `body`'s balls at `pose`, placed at the pose's position.
fn push_balls(body: &Body, pose: &Pose, out: &mut Vec<Ball>) {
    let (Some(balls), Pose::Rigid { position_m, .. }) = (body.balls(pose), pose) else {
        return;
    };
    let at = Point3::from(*position_m);
    for b in balls.as_slice() {
        out.push(Ball {
            center: at + b.offset_m,
            radius_m: b.radius_m,
        });
    }
}

/// Samples between two placements of the same balls: no ball moves more
/// than half its radius per sample.
fn samples_between(a: &[Ball], b: &[Ball]) -> usize {
    let mut samples = 1usize;
    for (p, q) in a.iter().zip(b) {
        let n = ((q.center - p.center).norm() / (0.5 * p.radius_m)).ceil();
        // NaN and huge values fall to the cap (`as` saturates, NaN -> 0).
        samples = samples.max((n as usize).min(MAX_SAMPLES));
    }
    samples
}

/// Balls covering a rod of `radius_m` through `nodes` (base to tip; the
/// clamped base node excluded) into `out` (cleared first): one at each
/// element's middle and one at its outer node, `e / 2` apart on an element
/// of length `e`, each of radius `sqrt(r^2 + (e/4)^2)`, so that
/// neighbours' spheres meet around the rod's surface between them: the
/// union covers the rod, over by at most `sqrt(r^2 + (e/4)^2) - r` (1 mm
/// for the 10 mm rod in 24 elements of 18.75 mm).
pub fn shape_balls(nodes: &[[f64; 3]], radius_m: f64, out: &mut Vec<Ball>) {
    out.clear();
    for w in nodes.windows(2) {
        let (p, q) = (Point3::from(w[0]), Point3::from(w[1]));
        let e = (q - p).norm();
        let radius = radius_m.hypot(0.25 * e);
        out.push(Ball {
            center: p + 0.5 * (q - p),
            radius_m: radius,
        });
        out.push(Ball {
            center: q,
            radius_m: radius,
        });
    }
}

/// Whether the ground is an obstacle for `robot` (free-flying bodies only).
pub fn ground_counts(robot: &RobotConfig) -> bool {
    matches!(robot, RobotConfig::Quadrotor(_))
}

/// A world object as the contact check needs it.
#[derive(Debug, Clone)]
struct Solid {
    name: String,
    shape: Shape,
    base: Point3<f64>,
    path: Option<Path>,
}

/// What a run's contacts add up to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactTally {
    /// Contact episodes: each start of a contact after none.
    pub episodes: u64,
    /// When the first episode started, s.
    pub first_secs: Option<f64>,
    /// What the first episode touched (an object's name or `ground`).
    pub first_with: Option<String>,
    /// Deepest penetration seen, m (0 without contact).
    pub deepest_m: f64,
    /// Smallest distance from the body's surface (its balls) to a world
    /// object over the run, m: negative while they overlap. `None` without
    /// objects or before the first state; the ground is not counted.
    pub min_clearance_m: Option<f64>,
}

/// Follows the true state through a run and counts contact episodes.
/// Allocates only in [`ContactMonitor::new`].
#[derive(Debug, Clone)]
pub struct ContactMonitor {
    robot: RobotConfig,
    solids: Vec<Solid>,
    ground: Option<f64>,
    prev: Vec<f64>,
    prev_t: f64,
    started: bool,
    sample: Vec<f64>,
    a: Vec<Ball>,
    b: Vec<Ball>,
    in_contact: bool,
    tally: ContactTally,
    /// A deformable body's true shape (`with_shape`): its node count (0:
    /// none, the state's balls count), the rod's radius, the previous
    /// and the sampled shape.
    shape_points: usize,
    shape_radius_m: f64,
    prev_shape: Vec<[f64; 3]>,
    sample_shape: Vec<[f64; 3]>,
}

impl ContactMonitor {
    pub fn new(robot: &RobotConfig, world: &WorldConfig) -> Result<Self, ConfigError> {
        world.validate()?;
        let solids = world
            .objects
            .iter()
            .map(|o| {
                let shape = o.shape.shape();
                Solid {
                    name: o.name.clone(),
                    shape,
                    base: shape.center(),
                    path: o.path.as_ref().map(|p| p.path()),
                }
            })
            .collect();
        let (nx, _) = robot.dimensions();
        Ok(Self {
            robot: robot.clone(),
            solids,
            ground: (world.ground.enabled && ground_counts(robot)).then_some(world.ground.height_m),
            prev: vec![0.0; nx],
            prev_t: 0.0,
            started: false,
            sample: vec![0.0; nx],
            a: Vec::with_capacity(MAX_BALLS),
            b: Vec::with_capacity(MAX_BALLS),
            in_contact: false,
            tally: ContactTally::default(),
            shape_points: 0,
            shape_radius_m: 0.0,
            prev_shape: Vec::new(),
            sample_shape: Vec::new(),
        })
    }

    /// Counts contacts of a deformable body's true shape (`points` nodes,
    /// base to tip, of a rod of `radius_m`: the plant's `shape_points`)
    /// given to [`Self::observe_shape`] instead of the balls of its
    /// controller-model state. No effect for fewer than 2 points.
    pub fn with_shape(mut self, points: usize, radius_m: f64) -> Self {
        if points >= 2 && radius_m.is_finite() && radius_m >= 0.0 {
            self.shape_points = points;
            self.shape_radius_m = radius_m;
            self.prev_shape = vec![[0.0; 3]; points];
            self.sample_shape = vec![[0.0; 3]; points];
            let balls = 2 * (points - 1);
            self.a.reserve(balls);
            self.b.reserve(balls);
        }
        self
    }

    /// As [`Self::observe`], from the body's true shape `shape` when the
    /// monitor was built for one of its length ([`Self::with_shape`]);
    /// otherwise from the state `x`. The nodes move linearly between two
    /// observations, sampled as the balls are in `observe`.
    pub fn observe_shape(&mut self, t_secs: f64, x: &[f64], shape: &[[f64; 3]]) {
        if self.shape_points == 0 || shape.len() != self.shape_points {
            return self.observe(t_secs, x);
        }
        let r = self.shape_radius_m;
        if !self.started {
            self.started = true;
            self.prev_shape.copy_from_slice(shape);
            self.prev_t = t_secs;
            shape_balls(shape, r, &mut self.a);
            self.check_balls(t_secs);
            return;
        }
        shape_balls(&self.prev_shape, r, &mut self.a);
        shape_balls(shape, r, &mut self.b);
        let samples = samples_between(&self.a, &self.b);
        let t0 = self.prev_t;
        for k in 1..=samples {
            let s = k as f64 / samples as f64;
            for ((out, p), q) in self
                .sample_shape
                .iter_mut()
                .zip(&self.prev_shape)
                .zip(shape)
            {
                *out = std::array::from_fn(|i| p[i] + s * (q[i] - p[i]));
            }
            shape_balls(&self.sample_shape, r, &mut self.a);
            self.check_balls(t0 + s * (t_secs - t0));
        }
        self.prev_shape.copy_from_slice(shape);
        self.prev_t = t_secs;
    }

    /// The true state `x` at `t_secs`; the motion from the previous
    /// observation is checked on the way.
    pub fn observe(&mut self, t_secs: f64, x: &[f64]) {
        if x.len() != self.prev.len() {
            return;
        }
        if !self.started {
            self.started = true;
            self.prev.copy_from_slice(x);
            self.prev_t = t_secs;
            self.check(t_secs, x);
            return;
        }
        body_balls(&self.robot, &self.prev, &mut self.a);
        body_balls(&self.robot, x, &mut self.b);
        let samples = samples_between(&self.a, &self.b);
        let t0 = self.prev_t;
        for k in 1..=samples {
            let s = k as f64 / samples as f64;
            // The last sample is the observed state itself (not rebuilt
            // from a previous one that may have been non-finite).
            for ((out, p), q) in self.sample.iter_mut().zip(&self.prev).zip(x) {
                *out = if k == samples { *q } else { p + s * (q - p) };
            }
            let sample = std::mem::take(&mut self.sample);
            self.check(t0 + s * (t_secs - t0), &sample);
            self.sample = sample;
        }
        self.prev.copy_from_slice(x);
        self.prev_t = t_secs;
    }

    fn check(&mut self, t_secs: f64, x: &[f64]) {
        body_balls(&self.robot, x, &mut self.a);
        self.check_balls(t_secs);
    }

    /// Contact of the balls in `a` at `t_secs`.
    fn check_balls(&mut self, t_secs: f64) {
        let mut deepest = 0.0_f64;
        let mut with: Option<usize> = None; // usize::MAX: the ground
        for ball in &self.a {
            // A non-finite state is no contact: shapes' distances (min/max
            // of NaN) would place it inside something.
            if !ball.center.iter().all(|c| c.is_finite()) {
                continue;
            }
            if let Some(h) = self.ground {
                let depth = ball.radius_m - (ball.center.z - h);
                if depth > deepest {
                    deepest = depth;
                    with = Some(usize::MAX);
                }
            }
            for (i, s) in self.solids.iter().enumerate() {
                let mut shape = s.shape;
                if let Some(p) = &s.path {
                    shape.set_center(s.base + p.offset(t_secs));
                }
                let depth = ball.radius_m - shape.signed_distance(&ball.center);
                // NaN (a wild state) leaves the figure as it was.
                if -depth < self.tally.min_clearance_m.unwrap_or(f64::INFINITY) {
                    self.tally.min_clearance_m = Some(-depth);
                }
                if depth > deepest {
                    deepest = depth;
                    with = Some(i);
                }
            }
        }
        let touching = with.is_some();
        if touching && !self.in_contact {
            self.tally.episodes += 1;
            if self.tally.first_secs.is_none() {
                self.tally.first_secs = Some(t_secs);
                self.tally.first_with = with.map(|i| {
                    self.solids
                        .get(i)
                        .map_or_else(|| "ground".to_string(), |s| s.name.clone())
                });
            }
        }
        self.in_contact = touching;
        self.tally.deepest_m = self.tally.deepest_m.max(deepest);
    }

    pub fn tally(&self) -> &ContactTally {
        &self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recede_model::robots::QuadrotorParams;

    fn quad() -> RobotConfig {
        RobotConfig::Quadrotor(QuadrotorParams::default())
    }

    fn state(p: [f64; 3]) -> Vec<f64> {
        let mut x = vec![0.0; 13];
        x[..3].copy_from_slice(&p);
        x[3] = 1.0;
        x
    }

    fn pillar_world() -> WorldConfig {
        toml::from_str(
            r#"objects = [{ name = "pillar", shape = { kind = "cylinder", center_m = [5.0, 0.0, 2.0], radius_m = 0.2, height_m = 4.0 } }]"#,
        )
        .unwrap()
    }

    #[test]
    fn a_quadrotor_through_a_pillar_is_one_episode_even_between_samples() {
        let mut m = ContactMonitor::new(&quad(), &pillar_world()).unwrap();
        // 2 m per observation: the pillar (0.4 m wide) lies between two.
        for k in 0..6 {
            m.observe(k as f64, &state([2.0 * k as f64 - 1.0, 0.0, 2.0]));
        }
        let t = m.tally();
        assert_eq!(t.episodes, 1);
        assert_eq!(t.first_with.as_deref(), Some("pillar"));
        let first = t.first_secs.unwrap();
        assert!(first > 2.0 && first < 3.0, "{first}");
    }

    #[test]
    fn the_ground_counts_for_a_quadrotor_and_clear_flight_does_not() {
        let mut m = ContactMonitor::new(&quad(), &pillar_world()).unwrap();
        for k in 0..10 {
            m.observe(k as f64 * 0.1, &state([0.0, 0.0, 2.0 - 0.1 * k as f64]));
        }
        assert_eq!(m.tally().episodes, 0, "still above the ground");
        m.observe(1.0, &state([0.0, 0.0, -0.5]));
        m.observe(1.1, &state([0.0, 0.0, 1.0]));
        m.observe(1.2, &state([0.0, 0.0, -0.5]));
        assert_eq!(m.tally().episodes, 2);
        assert_eq!(m.tally().first_with.as_deref(), Some("ground"));
        assert!(m.tally().deepest_m > 0.5);
    }

    /// The body's clearance is measured from its surface: hovering beside
    /// the pillar with the origin 0.3 m from it, the nearest ball (a rotor,
    /// reaching towards it) is closer than the origin; it is negative
    /// exactly when contact is counted, and a wild state leaves it alone.
    #[test]
    fn the_clearance_is_the_bodys_and_negative_exactly_in_contact() {
        let mut m = ContactMonitor::new(&quad(), &pillar_world()).unwrap();
        let beside = state([5.0 - 0.2 - 0.3, 0.0, 2.0]);
        m.observe(0.0, &beside);
        let mut balls = Vec::new();
        body_balls(&quad(), &beside, &mut balls);
        let pillar = Shape::Cylinder {
            center: Point3::new(5.0, 0.0, 2.0),
            radius: 0.2,
            half_height: 2.0,
        };
        let expected = balls
            .iter()
            .map(|b| pillar.signed_distance(&b.center) - b.radius_m)
            .fold(f64::INFINITY, f64::min);
        let c = m.tally().min_clearance_m.unwrap();
        assert_eq!(c, expected);
        assert!(c > 0.0 && c < 0.3 - 0.1, "{c}");
        assert_eq!(m.tally().episodes, 0);
        m.observe(0.1, &state([f64::NAN, 0.0, 2.0]));
        assert_eq!(m.tally().min_clearance_m, Some(c));
        // Moved on to 2 cm from the pillar's surface: the rotors overlap it.
        m.observe(0.2, &state([5.0 - 0.2 - 0.02, 0.0, 2.0]));
        assert_eq!(m.tally().episodes, 1);
        let c = m.tally().min_clearance_m.unwrap();
        assert!(c < 0.0 && (c + m.tally().deepest_m).abs() < 1e-12, "{c}");
    }

    #[test]
    fn wild_states_neither_panic_nor_count_as_contact() {
        for world in [WorldConfig::default(), pillar_world()] {
            let mut m = ContactMonitor::new(&quad(), &world).unwrap();
            m.observe(0.0, &state([0.0, 0.0, 2.0]));
            m.observe(0.1, &state([f64::NAN, 1e308, f64::INFINITY]));
            m.observe(0.15, &state([f64::NAN, 0.0, 2.0]));
            m.observe(0.2, &[0.0; 3]);
            assert_eq!(m.tally().episodes, 0);
        }
    }

    /// A deformable body counts by its true shape, not by the balls of
    /// its controller-model state: a straight rod swept sideways through a
    /// ball its PCC state (hanging straight, untouched) never reaches is
    /// one episode, its depth the rod's; the balls cover the rod to its
    /// radius and no more than a millimetre beyond.
    #[test]
    fn a_rod_counts_by_its_true_shape() {
        use recede_model::robots::ContinuumArmParams;
        let arm = RobotConfig::ContinuumArm(ContinuumArmParams::default());
        let world: WorldConfig = toml::from_str(
            r#"objects = [{ name = "ball", shape = { kind = "sphere", center_m = [0.1, 0.0, -0.2], radius_m = 0.02 } }]"#,
        )
        .unwrap();
        // 24 elements of 18.75 mm, hanging at x = dx.
        let rod = |dx: f64| -> Vec<[f64; 3]> {
            (0..=24).map(|i| [dx, 0.0, -0.01875 * i as f64]).collect()
        };
        let mut balls = Vec::new();
        shape_balls(&rod(0.0), 0.01, &mut balls);
        assert_eq!(balls.len(), 48);
        let r = balls[0].radius_m;
        assert!(r >= 0.01 && r - 0.01 < 1.1e-3 && (r - 0.01f64.hypot(0.0046875)).abs() < 1e-12);
        let mut m = ContactMonitor::new(&arm, &world)
            .unwrap()
            .with_shape(25, 0.01);
        let x = [0.0; 6];
        // Clear at x = 0 and x = 0.2; through the ball between (a jump of
        // 0.2 m in one observation: sampled).
        m.observe_shape(0.0, &x, &rod(0.0));
        m.observe_shape(0.1, &x, &rod(0.2));
        assert_eq!(m.tally().episodes, 1);
        assert_eq!(m.tally().first_with.as_deref(), Some("ball"));
        assert!(m.tally().deepest_m > 0.025, "{:?}", m.tally());
        // A shape of another length falls back to the state's balls: the
        // straight PCC arm at x = 0 is 80 mm clear.
        let mut by_state = ContactMonitor::new(&arm, &world)
            .unwrap()
            .with_shape(25, 0.01);
        by_state.observe_shape(0.0, &x, &rod(0.1)[..10]);
        assert_eq!(by_state.tally().episodes, 0);
        // Just touching (the rod's surface 0.5 mm into the ball) counts;
        // 1.5 mm clear does not, whatever the balls' overlap.
        for (gap, episodes) in [(-0.0005, 1), (0.0015, 0)] {
            let mut m = ContactMonitor::new(&arm, &world)
                .unwrap()
                .with_shape(25, 0.01);
            // The rod's axis, parallel to the ball's centre row, at the
            // ball's radius plus its own plus the gap.
            let dx = 0.03 + gap;
            m.observe_shape(0.0, &x, &rod(0.1 - dx));
            assert_eq!(m.tally().episodes, episodes, "gap {gap}");
        }
    }
}

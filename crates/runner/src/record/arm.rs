//! What the recording draws of a continuum arm: the true rod (its nodes,
//! from the world's shape), the estimate's section ends (the controller's
//! piecewise constant curvature view), the tip and its reference now, and
//! the tip's error; with a world-fixed depth camera, the rod's surface as
//! it sees it (perception's [`ArmShape`]). The plan's predicted tip path
//! is the generic prediction (`state_point` is the arm's tip).

use nalgebra::{Point3, SVector};
use recede_control::ReferenceConfig;
use recede_model::robots::continuum_arm::{NS, NX};
use recede_model::robots::{pcc, ContinuumArmParams, RobotConfig};
use recede_msg::{DepthImage, SensorId, SensorInfo, SensorKind};
use recede_perception::ArmShape;
use recede_viz::{Curve, RecorderHandle, Series, Stamp};

/// How far beyond its length (and radius) the arm's workspace reaches: a
/// depth pixel farther than this from the base is not the arm's, m.
const WORKSPACE_MARGIN_M: f64 = 0.02;

/// Names of the tip plot's series (`Series::Tip`).
pub(super) const TIP_NAMES: [&str; 4] = ["tip x", "tip x ref", "tip z", "tip z ref"];

/// A continuum arm's recording state, sized at setup.
#[derive(Debug)]
pub(super) struct ArmView {
    params: ContinuumArmParams,
    x_ref: Vec<f64>,
    u_ref: Vec<f64>,
    points: Vec<Point3<f64>>,
    /// The world reports the rod's shape: its last node is the true tip
    /// (else the tip of the state's PCC view stands in).
    shaped: bool,
    /// The first world-fixed depth camera and its view of the arm.
    seen: Option<(SensorId, ArmShape)>,
}

/// World `(x, 0, z)` of the point at fraction `f` of the arm at PCC state `x`.
fn point(params: &ContinuumArmParams, x: &[f64], f: f64) -> Point3<f64> {
    let q = SVector::<f64, NS>::from_fn(|i, _| x[i]);
    let ([px, pz], _) = pcc::point_at(params, &q, f);
    Point3::new(px, 0.0, pz)
}

impl ArmView {
    /// The view of a continuum arm; `None` for any other robot.
    /// The depth camera's points are kept for every pixel of its image,
    /// so they never overflow.
    pub(super) fn new(robot: &RobotConfig, sensors: &[SensorInfo]) -> Option<Self> {
        let RobotConfig::ContinuumArm(params) = robot else {
            return None;
        };
        let (nx, nu) = robot.dimensions();
        let seen = sensors
            .iter()
            .filter(|s| s.world_fixed && s.kind == SensorKind::DepthCamera)
            .find_map(|s| {
                let k = s.intrinsics?;
                let reach = params.length_m + params.radius_m + WORKSPACE_MARGIN_M;
                let pixels = k.pixel_count();
                let shape = ArmShape::new(k, s.body_from_sensor, Point3::origin(), reach, pixels);
                Some((s.id, shape))
            });
        Some(Self {
            params: *params,
            x_ref: vec![0.0; nx],
            u_ref: vec![0.0; nu],
            points: Vec::with_capacity(NS + 1),
            shaped: false,
            seen,
        })
    }

    /// Whether a depth camera sees the arm (its points are recorded).
    pub(super) fn is_seen(&self) -> bool {
        self.seen.is_some()
    }

    /// A depth image: the arm's points in it, if `sensor` is the camera
    /// that sees the arm.
    pub(super) fn depth(
        &mut self,
        handle: &RecorderHandle,
        stamp: Stamp,
        sensor: SensorId,
        depth: &DepthImage,
    ) {
        let Some((id, shape)) = &mut self.seen else {
            return;
        };
        if *id != sensor {
            return;
        }
        self.points.clear();
        let seen = shape.update(depth).iter().map(|p| Point3::from(*p));
        self.points.extend(seen);
        handle.log_curve(stamp, Curve::PerceivedShape, &self.points);
    }

    /// Points that frame the arm: its base, where it hangs straight, and
    /// the reference's tip path.
    pub(super) fn frame_points(
        &self,
        reference: &ReferenceConfig,
        duration_secs: f64,
    ) -> Vec<Point3<f64>> {
        let (mut x, mut u) = (self.x_ref.clone(), self.u_ref.clone());
        let mut out = vec![Point3::origin(), point(&self.params, &[0.0; NX], 1.0)];
        out.extend((0..=200).map(|i| {
            reference.sample(duration_secs * f64::from(i) / 200.0, &mut x, &mut u);
            self.tip_of(&x)
        }));
        out
    }

    fn tip_of(&self, x: &[f64]) -> Point3<f64> {
        if x.len() < NS {
            return Point3::origin();
        }
        point(&self.params, x, 1.0)
    }

    /// The true state at `t_secs`: the tip from its PCC view until the
    /// world has reported a shape.
    pub(super) fn truth(
        &mut self,
        handle: &RecorderHandle,
        stamp: Stamp,
        reference: &ReferenceConfig,
        x: &[f64],
    ) {
        if !self.shaped {
            let tip = self.tip_of(x);
            self.tip(handle, stamp, reference, tip);
        }
    }

    /// The rod's nodes, base to tip; the last is the true tip.
    pub(super) fn shape(
        &mut self,
        handle: &RecorderHandle,
        stamp: Stamp,
        reference: &ReferenceConfig,
        nodes: &[[f64; 3]],
    ) {
        let Some(last) = nodes.last() else { return };
        self.shaped = true;
        self.points.clear();
        self.points.extend(nodes.iter().map(|p| Point3::from(*p)));
        handle.log_curve(stamp, Curve::RodShape, &self.points);
        self.tip(handle, stamp, reference, Point3::from(*last));
    }

    fn tip(
        &mut self,
        handle: &RecorderHandle,
        stamp: Stamp,
        reference: &ReferenceConfig,
        tip: Point3<f64>,
    ) {
        reference.sample(stamp.sim_time_secs, &mut self.x_ref, &mut self.u_ref);
        let goal = self.tip_of(&self.x_ref);
        handle.log_curve(stamp, Curve::Tip, &[tip]);
        handle.log_curve(stamp, Curve::TipReference, &[goal]);
        handle.log_series(stamp, Series::Tip, &[tip.x, goal.x, tip.z, goal.z]);
        handle.log_series(stamp, Series::TipError, &[1e3 * (tip - goal).norm()]);
    }

    /// The estimate the controller acted on: its section ends.
    pub(super) fn estimate(&mut self, handle: &RecorderHandle, stamp: Stamp, x: &[f64]) {
        if x.len() != NX {
            return;
        }
        self.points.clear();
        for j in 0..=NS {
            self.points
                .push(point(&self.params, x, j as f64 / NS as f64));
        }
        handle.log_curve(stamp, Curve::Sections, &self.points);
    }
}

//! Perceived obstacles as soft distance constraints for the MPC
//! (`[perception.constraints]`):
//! `distance(position(x_k), obstacle) >= radius + margin` at every node,
//! linearised at the current plan on every SQP iteration. With
//! `body_extent` the distance is the body's, not the position point's.

use std::fmt;
use std::sync::Arc;

use nalgebra::{SVector, Vector3};
use recede_model::robots::{Body, Pose};
use recede_mpc::{BoundedSides, ConstraintRow, SoftPenalty, StageConstraints};
use recede_msg::{Obstacle, ObstacleShape, MAX_OBSTACLES};
use serde::{Deserialize, Serialize};

use super::body_rows::{BodyPoints, BODY_POINTS};
use crate::ControlError;

/// `[perception.constraints]`: how obstacles enter the MPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObstacleConstraintConfig {
    /// Constraint rows per node: the nearest this many obstacles.
    pub max_obstacles: usize,
    /// Clearance kept beyond each radius, m: the robot's own size plus a
    /// safety distance, or with `body_extent` the safety distance alone.
    pub margin_m: f64,
    /// Measure each row's distance from the robot's body (the nearest of
    /// the balls the contact check counts, [`Body::balls`], at the plan's
    /// attitude) instead of from its position point: a quadrotor side-on
    /// to a pillar reaches 0.19 m towards it, diagonally 0.24 m, and
    /// `margin_m` alone must assume the worst. Off by default.
    pub body_extent: bool,
    /// Also added: this many standard deviations of the obstacle's
    /// position and radius.
    pub uncertainty_sigmas: f64,
    /// Slack penalty per metre of violation, and per metre squared.
    pub penalty_l1: f64,
    pub penalty_l2: f64,
    /// The world's objects, as the scenario declares them, are known to
    /// the controller from the start (a map) instead of perceived: for a
    /// robot whose sensors do not see them (the continuum arm). Off by
    /// default.
    pub known_obstacles: bool,
}

impl Default for ObstacleConstraintConfig {
    fn default() -> Self {
        Self {
            max_obstacles: 8,
            margin_m: 0.4,
            body_extent: false,
            uncertainty_sigmas: 1.0,
            penalty_l1: 200.0,
            penalty_l2: 2000.0,
            known_obstacles: false,
        }
    }
}

impl ObstacleConstraintConfig {
    pub fn validate(&self) -> Result<(), ControlError> {
        let bad = |key: &str, message: String| {
            Err(ControlError::Parse {
                origin: format!("perception.constraints.{key}"),
                message,
            })
        };
        if self.max_obstacles < 1 {
            return bad("max_obstacles", "expected at least 1, found 0".into());
        }
        for (key, v, zero_ok) in [
            ("margin_m", self.margin_m, true),
            ("uncertainty_sigmas", self.uncertainty_sigmas, true),
            ("penalty_l1", self.penalty_l1, false),
            ("penalty_l2", self.penalty_l2, true),
        ] {
            if !(v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0))) {
                let expected = if zero_ok { ">= 0" } else { "> 0" };
                return bad(
                    key,
                    format!("expected a finite value {expected}, found {v}"),
                );
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Slot {
    /// The obstacle's id: what keeps it in its slot.
    id: u32,
    centre: Vector3<f64>,
    /// Keep-out distance from the centre (or axis), m.
    clearance: f64,
    /// Horizontal distance only (cylinders), or 3D.
    planar: bool,
}

impl Slot {
    /// The keep-out slot of obstacle `o`.
    fn new(config: &ObstacleConstraintConfig, dims: usize, o: &Obstacle) -> Self {
        Self {
            id: o.id,
            centre: o.position_m,
            clearance: o.radius_m
                + config.margin_m
                + config.uncertainty_sigmas * (o.position_std_m + o.radius_std_m),
            planar: dims == 2 || matches!(o.shape, ObstacleShape::Cylinder { .. }),
        }
    }
}

/// Where a robot's body is at a state (its `Robot::pose`).
type PoseOf<const NX: usize> = Arc<dyn Fn(&[f64; NX]) -> Pose + Send + Sync>;

/// The robot's body and where it is at a state: what `body_extent` rows
/// measure their distance from. Built once at setup.
#[derive(Clone)]
pub struct BodyExtent<const NX: usize> {
    body: Body,
    pose: PoseOf<NX>,
}

impl<const NX: usize> BodyExtent<NX> {
    /// `None` when the body has no balls (an articulated one).
    pub fn new(
        body: Body,
        pose: impl Fn(&[f64; NX]) -> Pose + Send + Sync + 'static,
    ) -> Option<Self> {
        let probe = Pose::Rigid {
            position_m: [0.0; 3],
            attitude: [1.0, 0.0, 0.0, 0.0],
        };
        body.balls(&probe)?;
        Some(Self {
            body,
            pose: Arc::new(pose),
        })
    }
}

impl<const NX: usize> fmt::Debug for BodyExtent<NX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyExtent")
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl<const NX: usize> PartialEq for BodyExtent<NX> {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body && Arc::ptr_eq(&self.pose, &other.pose)
    }
}

/// Soft keep-out constraints around up to `max_obstacles` obstacles on the
/// robot's position (`position_index..+2` or `+3` of the state). Inactive
/// slots have infinite bounds, so the QP's sparsity never changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ObstacleConstraints<const NX: usize> {
    config: ObstacleConstraintConfig,
    /// The body the distance is measured from (`body_extent`), or none.
    extent: Option<BodyExtent<NX>>,
    /// A deformable body's points, each held clear instead of the position
    /// (`with_points`), or none.
    points: Option<BodyPoints<NX>>,
    /// Index of the state's x coordinate; y follows, then z when `dims == 3`.
    position_index: usize,
    dims: usize,
    slots: Vec<Option<Slot>>,
    order: Vec<(f64, usize)>,
}

impl<const NX: usize> ObstacleConstraints<NX> {
    /// Positions are `dims` (2 or 3) consecutive states from `position_index`.
    pub fn new(
        config: &ObstacleConstraintConfig,
        position_index: usize,
        dims: usize,
    ) -> Result<Self, ControlError> {
        config.validate()?;
        if !(dims == 2 || dims == 3) || position_index + dims > NX {
            return Err(ControlError::Parse {
                origin: "perception.constraints".into(),
                message: format!(
                    "expected a 2D or 3D position inside the state, found {dims} coordinates from state {position_index} of {NX}"
                ),
            });
        }
        Ok(Self {
            config: config.clone(),
            extent: None,
            points: None,
            position_index,
            dims,
            slots: vec![None; config.max_obstacles],
            order: Vec::with_capacity(MAX_OBSTACLES),
        })
    }

    /// No rows at all: for a controller built without obstacle avoidance
    /// (its QP keeps its size; [`Self::set_obstacles`] has no effect).
    pub fn disabled(position_index: usize, dims: usize) -> Self {
        Self {
            config: ObstacleConstraintConfig {
                max_obstacles: 0,
                ..ObstacleConstraintConfig::default()
            },
            extent: None,
            points: None,
            position_index,
            dims,
            slots: Vec::new(),
            order: Vec::new(),
        }
    }

    /// Measures the rows' distance from `extent`'s body when the config
    /// asks for it (`body_extent`); an error when it does and the robot's
    /// body has none.
    pub fn with_body(mut self, extent: Option<BodyExtent<NX>>) -> Result<Self, ControlError> {
        if self.config.body_extent {
            match extent {
                Some(e) => self.extent = Some(e),
                None => {
                    return Err(ControlError::Parse {
                        origin: "perception.constraints.body_extent".into(),
                        message: "expected a robot with a rigid body (a quadrotor, a ground robot); this robot's body has no extent model".into(),
                    })
                }
            }
        }
        Ok(self)
    }

    /// Holds `points` of a deformable body clear (one row per point and
    /// obstacle) instead of the position states; `None` changes nothing.
    pub fn with_points(mut self, points: Option<BodyPoints<NX>>) -> Self {
        if points.is_some() {
            self.points = points;
        }
        self
    }

    /// Whether the rows are on a deformable body's points.
    pub fn on_body_points(&self) -> bool {
        self.points.is_some()
    }

    pub fn config(&self) -> &ObstacleConstraintConfig {
        &self.config
    }

    /// Replaces the obstacle set with the `max_obstacles` nearest to
    /// `position` (by surface distance); the rest is left out. An obstacle
    /// that stays among them keeps its slot (matched by id), and newcomers
    /// take the free slots nearest first: a row keeps its obstacle from
    /// step to step, so the duals a solve starts from (kept per row) are
    /// that obstacle's, not a neighbour's after a change of ranking.
    /// Non-finite obstacles are skipped, and any beyond the first
    /// [`MAX_OBSTACLES`] (what a world model holds). Allocates nothing.
    pub fn set_obstacles(&mut self, obstacles: &[Obstacle], position: &Vector3<f64>) {
        self.order.clear();
        for (i, o) in obstacles.iter().enumerate() {
            let finite = o.position_m.iter().all(|v| v.is_finite())
                && o.radius_m.is_finite()
                && o.position_std_m.is_finite()
                && o.radius_std_m.is_finite();
            if finite && self.order.len() < MAX_OBSTACLES {
                let mut p = *position;
                if self.dims == 2 {
                    p.z = o.position_m.z;
                }
                self.order.push((o.surface_distance(&p), i));
            }
        }
        self.order.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.order.truncate(self.slots.len());
        // The chosen obstacles already in a slot stay there.
        let (config, dims, order) = (&self.config, self.dims, &self.order);
        let mut placed = [false; MAX_OBSTACLES];
        for slot in self.slots.iter_mut() {
            let kept = slot.and_then(|s| {
                (0..order.len()).find(|&k| !placed[k] && obstacles[order[k].1].id == s.id)
            });
            *slot = kept.map(|k| {
                placed[k] = true;
                Slot::new(config, dims, &obstacles[order[k].1])
            });
        }
        // The rest, nearest first, into the free slots in order.
        let mut newcomers = (0..order.len()).filter(|&k| !placed[k]);
        for slot in self.slots.iter_mut().filter(|s| s.is_none()) {
            let Some(k) = newcomers.next() else { break };
            *slot = Some(Slot::new(config, dims, &obstacles[order[k].1]));
        }
    }

    /// Removes every obstacle.
    pub fn clear(&mut self) {
        self.slots.fill(None);
    }

    /// Number of slots holding an obstacle.
    pub fn active(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

impl<const NX: usize> StageConstraints<NX> for ObstacleConstraints<NX> {
    fn rows(&self) -> usize {
        self.slots.len() * self.points.as_ref().map_or(1, |_| BODY_POINTS)
    }

    fn soft_penalty(&self, _row: usize) -> Option<SoftPenalty> {
        Some(SoftPenalty {
            l1: self.config.penalty_l1,
            l2: self.config.penalty_l2,
        })
    }

    /// A keep-out distance has no upper bound: one slack per row.
    fn bounded_sides(&self, _row: usize) -> BoundedSides {
        BoundedSides::Lower
    }

    fn evaluate(
        &self,
        _node: usize,
        _time_secs: f64,
        x: &SVector<f64, NX>,
        out: &mut [ConstraintRow<NX>],
    ) {
        if let Some(points) = &self.points {
            // Each point once, against every slot: rows point-major.
            let mut rows = out.chunks_mut(self.slots.len().max(1));
            for k in 0..BODY_POINTS {
                let Some(chunk) = rows.next() else { return };
                let (p, jac) = points.point(x, k);
                for (row, slot) in chunk.iter_mut().zip(&self.slots) {
                    *row = match slot {
                        Some(s) => BodyPoints::row(&p, &jac, &s.centre, s.clearance, s.planar),
                        None => ConstraintRow::INACTIVE,
                    };
                }
            }
            return;
        }
        // The body's balls at the plan's attitude: one pose for every row.
        let balls = self
            .extent
            .as_ref()
            .and_then(|e| e.body.balls(&(e.pose)(&x.data.0[0])));
        for (row, slot) in out.iter_mut().zip(&self.slots) {
            let Some(s) = slot else {
                *row = ConstraintRow::INACTIVE;
                continue;
            };
            let i = self.position_index;
            let mut d = Vector3::new(x[i] - s.centre.x, x[i + 1] - s.centre.y, 0.0);
            let planar = self.dims == 2 || s.planar;
            if !planar {
                d.z = x[i + 2] - s.centre.z;
            }
            let dist = d.norm();
            let mut gradient = SVector::<f64, NX>::zeros();
            // At the centre any direction is a descent direction: push along x.
            let n = if dist > 1e-9 { d / dist } else { Vector3::x() };
            let mut value = dist;
            let mut g = n;
            if let Some(balls) = &balls {
                // The nearest ball: its surface's distance and the direction
                // to its centre (the attitude enters at the plan: no
                // gradient of its own).
                value = f64::INFINITY;
                for b in balls.as_slice() {
                    let mut to_ball = d + b.offset_m;
                    if planar {
                        to_ball.z = 0.0;
                    }
                    let centre = to_ball.norm();
                    if centre - b.radius_m < value {
                        value = centre - b.radius_m;
                        g = if centre > 1e-9 { to_ball / centre } else { n };
                    }
                }
            }
            for c in 0..self.dims {
                gradient[i + c] = g[c];
            }
            *row = ConstraintRow {
                value,
                gradient,
                lower: s.clearance,
                upper: f64::INFINITY,
            };
        }
    }
}

//! What the recording adds to the loop's data for the viewer: the default
//! layout, reference-against-actual pairs, the command's bounds, and what
//! perception sees.

use nalgebra::{Point3, Vector3};
use recede_control::ReferenceConfig;
use recede_model::robots::RobotConfig;
use recede_msg::{Obstacle as Percept, ObstacleShape, WorldModel};
use recede_viz::{Layout, Obstacle, ObstacleSource, RecorderHandle, Series, Stamp};

use super::{state_point, SinkSetup};

/// The default layout of a run: framed on the reference, the targets and
/// the obstacles; a view per camera; the estimator's plot when there is one.
/// A continuum arm's (`arm`: the points that frame it) faces its plane.
pub(super) fn layout(
    setup: &SinkSetup<'_>,
    obstacles: &[Obstacle],
    arm: Option<&[Point3<f64>]>,
) -> Layout {
    if let Some(points) = arm {
        let mut layout = Layout::arm_plane(points);
        layout.cameras = cameras(setup);
        layout.estimator = setup.perception;
        return layout;
    }
    let (nx, nu) = setup.robot.dimensions();
    let (mut x, mut u) = (vec![0.0; nx], vec![0.0; nu]);
    let mut points: Vec<Point3<f64>> = match setup.reference {
        ReferenceConfig::Waypoints { states, .. } => {
            states.iter().map(|s| state_point(setup.robot, s)).collect()
        }
        reference => (0..=200)
            .map(|i| {
                reference.sample(setup.duration_secs * f64::from(i) / 200.0, &mut x, &mut u);
                state_point(setup.robot, &x)
            })
            .collect(),
    };
    // Obstacles near the path join the frame; far ones (a wall at the
    // yard's edge, the infrared targets) would shrink the robot to a speck.
    let (lo, hi) = bounding_box(&points);
    let margin = 0.25 * (hi - lo).norm() + 1.0;
    let near = |p: &Point3<f64>| (0..3).all(|i| p[i] >= lo[i] - margin && p[i] <= hi[i] + margin);
    let centres: Vec<Point3<f64>> = obstacles
        .iter()
        .map(|o| match *o {
            Obstacle::Sphere { center, .. }
            | Obstacle::Ellipsoid { center, .. }
            | Obstacle::Box { center, .. } => center,
        })
        .collect();
    if points.is_empty() {
        points = centres;
    } else {
        points.extend(centres.into_iter().filter(|c| near(c)));
    }
    let mut layout = Layout::framing(&points);
    layout.cameras = cameras(setup);
    layout.estimator = setup.perception;
    layout
}

fn cameras(setup: &SinkSetup<'_>) -> Vec<String> {
    setup
        .sensors
        .iter()
        .filter(|s| s.intrinsics.is_some())
        .map(|s| s.name.clone())
        .collect()
}

fn bounding_box(points: &[Point3<f64>]) -> (Point3<f64>, Point3<f64>) {
    let start = (Point3::origin(), Point3::origin());
    let Some(first) = points.first() else {
        return start;
    };
    points.iter().fold((*first, *first), |(lo, hi), p| {
        (
            Point3::from(lo.coords.inf(&p.coords)),
            Point3::from(hi.coords.sup(&p.coords)),
        )
    })
}

/// The state components plotted against their reference: positions (the
/// pole's and the arm's joint angles).
#[derive(Debug)]
pub(super) struct Tracking {
    indices: Vec<usize>,
    names: Vec<String>,
    x_ref: Vec<f64>,
    u_ref: Vec<f64>,
    pairs: Vec<f64>,
}

impl Tracking {
    pub(super) fn new(robot: &RobotConfig, state_names: &[&str]) -> Self {
        let (nx, nu) = robot.dimensions();
        let tracked: &[usize] = match robot.kind() {
            "quadrotor" => &[0, 1, 2],
            _ => &[0, 1],
        };
        let indices: Vec<usize> = tracked
            .iter()
            .copied()
            .filter(|i| *i < nx.min(state_names.len()))
            .collect();
        let names = indices
            .iter()
            .flat_map(|i| {
                [
                    state_names[*i].to_owned(),
                    format!("{} ref", state_names[*i]),
                ]
            })
            .collect();
        Self {
            pairs: Vec::with_capacity(2 * indices.len()),
            indices,
            names,
            x_ref: vec![0.0; nx],
            u_ref: vec![0.0; nu],
        }
    }

    /// Series names, `[x, x ref, ...]`.
    pub(super) fn names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }

    /// `[actual, reference, ...]` at `t_secs`.
    pub(super) fn pairs(&mut self, reference: &ReferenceConfig, t_secs: f64, x: &[f64]) -> &[f64] {
        reference.sample(t_secs, &mut self.x_ref, &mut self.u_ref);
        self.pairs.clear();
        for i in &self.indices {
            self.pairs.push(x.get(*i).copied().unwrap_or(f64::NAN));
            self.pairs.push(self.x_ref[*i]);
        }
        &self.pairs
    }
}

/// The command's finite bounds, logged at the first and the last step so
/// that the plot draws them as lines across the run.
#[derive(Debug)]
pub(super) struct Bounds {
    values: Vec<f64>,
    last: Option<Stamp>,
    handle: RecorderHandle,
}

impl Bounds {
    pub(super) fn new(
        handle: &RecorderHandle,
        (min, max): (Option<&[f64]>, Option<&[f64]>),
    ) -> Self {
        let mut names = Vec::new();
        let mut values = Vec::new();
        for (tag, bound) in [("min", min), ("max", max)] {
            let finite: Vec<(usize, f64)> = bound
                .unwrap_or(&[])
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .collect();
            // One line when every input shares the bound.
            let shared = finite.windows(2).all(|w| w[0].1 == w[1].1);
            if shared && !finite.is_empty() {
                names.push(tag.to_owned());
                values.push(finite[0].1);
            } else {
                for (i, v) in finite {
                    names.push(format!("{tag} {i}"));
                    values.push(v);
                }
            }
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        handle.declare_series(Series::CommandBounds, &names);
        Self {
            values,
            last: None,
            handle: handle.clone(),
        }
    }

    /// Called at every step: logs at the first, remembers the last.
    pub(super) fn at(&mut self, handle: &RecorderHandle, stamp: Stamp) {
        if self.last.is_none() && !self.values.is_empty() {
            handle.log_series(stamp, Series::CommandBounds, &self.values);
        }
        self.last = Some(stamp);
    }
}

impl Drop for Bounds {
    fn drop(&mut self) {
        if let (Some(stamp), false) = (self.last, self.values.is_empty()) {
            self.handle
                .log_series(stamp, Series::CommandBounds, &self.values);
        }
    }
}

/// What perception sees, as the step's estimate carried it, logged when it
/// changes.
#[derive(Debug)]
pub(super) struct Perceived {
    shapes: Vec<Obstacle>,
    target: Option<Point3<f64>>,
    first: bool,
}

impl Perceived {
    pub(super) fn new() -> Self {
        Self {
            shapes: Vec::new(),
            target: None,
            first: true,
        }
    }

    pub(super) fn log(&mut self, handle: &RecorderHandle, stamp: Stamp, world: &WorldModel) {
        let shapes: Vec<Obstacle> = world.obstacles().iter().map(shape).collect();
        if self.first || shapes != self.shapes {
            handle.log_obstacles(stamp, ObstacleSource::Perceived, &shapes);
            self.shapes = shapes;
        }
        let target = world
            .targets()
            .iter()
            .max_by(|a, b| a.temperature_k.total_cmp(&b.temperature_k))
            .map(|t| Point3::from(t.position_m));
        if self.first || target != self.target {
            handle.log_targets(stamp, target.as_slice());
            self.target = target;
        }
        self.first = false;
    }
}

/// A perceived obstacle as drawn: a cylinder as its bounding box from the
/// ground up, a ball as a sphere.
fn shape(o: &Percept) -> Obstacle {
    let p = Point3::from(o.position_m);
    match o.shape {
        ObstacleShape::Cylinder { top_m } => Obstacle::Box {
            center: Point3::new(p.x, p.y, 0.5 * top_m),
            half_sizes_m: Vector3::new(o.radius_m, o.radius_m, 0.5 * top_m.max(0.01)),
            rotation: nalgebra::UnitQuaternion::identity(),
        },
        ObstacleShape::Sphere => Obstacle::Sphere {
            center: p,
            radius_m: o.radius_m,
        },
    }
}

//! The default layout sent with every recording, built from one [`Layout`]
//! for any robot: a large 3D view framed on the workspace, small camera
//! views under it, the plots that explain the run beside it, the event log,
//! `sim_time` as the timeline.
//!
//! Written with rerun's blueprint archetypes rather than its `Blueprint`
//! builder: in 0.36 the Rust builder cannot set a 3D view's eye
//! (`EyeControls3D`), and without it the view frames everything, a 30 m
//! wall included, and the robot is a speck. The archetypes are the same
//! ones the builder logs, at the same paths (`container/{id}`,
//! `view/{id}`, `view/{id}/ViewContents`, `viewport`, `time_panel`).

use nalgebra::{Point3, Vector3};
use rerun::blueprint::components::{
    ColumnShare, ContainerKind, Eye3DKind, IncludedContent, PanelState, PlayState, QueryExpression,
    RootContainer, RowShare, TimelineName, ViewClass,
};
use rerun::components::{Name, Position3D, Vector3D};
use rerun::datatypes::{Float32, Vec3D};
use rerun::external::re_log_types::BlueprintActivationCommand;
use rerun::external::re_sdk_types::blueprint::archetypes::{
    ContainerBlueprint, EyeControls3D, PanelBlueprint, TimePanelBlueprint, ViewBlueprint,
    ViewContents, ViewportBlueprint,
};
use rerun::{RecordingStream, RecordingStreamBuilder, RecordingStreamResult};

use crate::paths;
use crate::types::Series;

/// What the default layout shows, as plain data the program fills from the
/// scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Where the 3D view's eye sits and what it looks at (world frame, z up).
    pub eye: Point3<f64>,
    pub look_at: Point3<f64>,
    /// Cameras declared with [`crate::RecorderHandle::declare_camera`]: one
    /// small 2D view each, under the 3D view.
    pub cameras: Vec<String>,
    /// The estimator is not the truth: plot its standard deviations.
    pub estimator: bool,
    /// A learned residual is in the model: plot its magnitude.
    pub residual: bool,
    /// A continuum arm: its plots (tendon tensions, tip against reference,
    /// tip error) instead of the generic tracking and command ones.
    pub arm: bool,
    /// A depth camera sees the arm: the 3D view shows its perceived points
    /// ([`crate::paths::ARM_PERCEIVED`]) beside the rod.
    pub arm_seen: bool,
}

impl Layout {
    /// A layout whose 3D view looks at the box around `points` (the
    /// reference path, targets, obstacle centres) from the south-west and
    /// above, far enough to see all of it.
    pub fn framing(points: &[Point3<f64>]) -> Self {
        let (lo, hi) = points.iter().fold(
            (
                Vector3::repeat(f64::INFINITY),
                Vector3::repeat(f64::NEG_INFINITY),
            ),
            |(lo, hi), p| (lo.inf(&p.coords), hi.sup(&p.coords)),
        );
        let (centre, radius) = if points.is_empty() {
            (Vector3::zeros(), 1.0)
        } else {
            (0.5 * (lo + hi), (0.5 * (hi - lo).norm()).max(0.5))
        };
        let from = Vector3::new(-0.25, -1.0, 0.9).normalize();
        Self {
            eye: Point3::from(centre + from * 1.5 * radius),
            look_at: Point3::from(centre),
            cameras: Vec::new(),
            estimator: false,
            residual: false,
            arm: false,
            arm_seen: false,
        }
    }

    /// A continuum arm's layout: the 3D view faces the x-z plane the arm
    /// bends in (the eye on -y, z up), framed on `points` (the base, the
    /// hanging tip, the reference path) with a margin; the arm's plots.
    pub fn arm_plane(points: &[Point3<f64>]) -> Self {
        let mut layout = Self::framing(points);
        let (lo, hi) = points.iter().fold(
            (
                Vector3::repeat(f64::INFINITY),
                Vector3::repeat(f64::NEG_INFINITY),
            ),
            |(lo, hi), p| (lo.inf(&p.coords), hi.sup(&p.coords)),
        );
        if !points.is_empty() {
            let centre = 0.5 * (lo + hi);
            // Far enough that the box's larger side fills about 2/3 of a
            // 60-degree view; a 0.1 m floor keeps a point in sight.
            let side = (hi.x - lo.x).max(hi.z - lo.z).max(0.1);
            layout.look_at = Point3::from(centre);
            layout.eye = Point3::new(centre.x, centre.y - 1.3 * side, centre.z);
        }
        layout.arm = true;
        layout
    }

    /// Every entity a view of this layout shows (view origins and plot
    /// entities); tests check the recorder logs each.
    pub fn entities(&self) -> Vec<String> {
        let mut out = vec![paths::WORLD.to_owned(), paths::EVENTS.to_owned()];
        out.extend(self.cameras.iter().map(|c| paths::camera_image(c)));
        if self.arm_seen {
            out.push(paths::ARM_PERCEIVED.to_owned());
        }
        out.extend(
            self.plots()
                .into_iter()
                .flat_map(|(_, s)| s)
                .map(|s| s.path().to_owned()),
        );
        out
    }

    /// The plots beside the 3D view: (title, series in it).
    fn plots(&self) -> Vec<(&'static str, Vec<Series>)> {
        let mut plots = if self.arm {
            vec![
                (
                    "tendon tensions (N) and bounds",
                    vec![Series::Command, Series::CommandBounds],
                ),
                ("tip vs reference (m)", vec![Series::Tip]),
                ("tip error (mm)", vec![Series::TipError]),
                ("step time (us)", vec![Series::StepTimeUs]),
            ]
        } else {
            vec![
                ("reference vs actual", vec![Series::Tracking]),
                (
                    "command and bounds",
                    vec![Series::Command, Series::CommandBounds],
                ),
                ("step time (us)", vec![Series::StepTimeUs]),
                ("QP iterations", vec![Series::QpIterations]),
            ]
        };
        if self.estimator {
            plots.push(("estimator std", vec![Series::EstimatorStd]));
        }
        if self.residual {
            plots.push(("residual", vec![Series::ResidualNorm]));
        }
        plots
    }
}

/// Blueprint ids: fixed, so that a recording's layout is reproducible.
fn id(n: u8) -> [u8; 16] {
    let mut bytes = [0x5e; 16];
    bytes[6] = 0x40; // version 4
    bytes[8] = 0x80; // RFC 4122 variant
    bytes[15] = n;
    bytes
}

fn hyphenated(b: [u8; 16]) -> String {
    let v = u128::from_be_bytes(b);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        v >> 96,
        (v >> 80) & 0xffff,
        (v >> 64) & 0xffff,
        (v >> 48) & 0xffff,
        v & 0xffff_ffff_ffff
    )
}

/// A view or a container, logged depth first.
enum Node {
    View {
        class: &'static str,
        name: String,
        origin: String,
        contents: Vec<String>,
        // Boxed: the eye is large and only the 3D view has one.
        eye: Option<Box<EyeControls3D>>,
    },
    Split {
        kind: ContainerKind,
        shares: Vec<f32>,
        children: Vec<Node>,
    },
}

impl Node {
    fn view(class: &'static str, name: impl Into<String>, origin: &str) -> Self {
        Node::View {
            class,
            name: name.into(),
            origin: origin.to_owned(),
            contents: vec!["$origin/**".to_owned()],
            eye: None,
        }
    }

    fn split(kind: ContainerKind, shares: &[f32], children: Vec<Node>) -> Self {
        Node::Split {
            kind,
            shares: shares.to_vec(),
            children,
        }
    }

    /// Logs this node and its children; returns its blueprint path.
    fn log(&self, bp: &RecordingStream, next: &mut u8) -> RecordingStreamResult<String> {
        let me = id(*next);
        *next += 1;
        match self {
            Node::View {
                class,
                name,
                origin,
                contents,
                eye,
            } => {
                let path = format!("view/{}", hyphenated(me));
                bp.log(
                    format!("{path}/ViewContents"),
                    &ViewContents::new(contents.iter().map(|q| QueryExpression(q.as_str().into()))),
                )?;
                bp.log(
                    path.as_str(),
                    &ViewBlueprint::new(ViewClass((*class).into()))
                        .with_display_name(Name(name.as_str().into()))
                        .with_space_origin(origin.as_str()),
                )?;
                if let Some(eye) = eye {
                    bp.log(format!("{path}/EyeControls3D"), eye.as_ref())?;
                }
                Ok(path)
            }
            Node::Split {
                kind,
                shares,
                children,
            } => {
                let mut included = Vec::with_capacity(children.len());
                for child in children {
                    included.push(IncludedContent(child.log(bp, next)?.into()));
                }
                let mut arch = ContainerBlueprint::new(*kind).with_contents(included);
                let shares = shares.iter().map(|s| Float32(*s));
                arch = match kind {
                    ContainerKind::Horizontal => arch.with_col_shares(shares.map(ColumnShare)),
                    _ => arch.with_row_shares(shares.map(RowShare)),
                };
                let path = format!("container/{}", hyphenated(me));
                bp.log(path.as_str(), &arch)?;
                Ok(path)
            }
        }
    }
}

fn vec3(p: &Point3<f64>) -> Vec3D {
    Vec3D([p.x as f32, p.y as f32, p.z as f32])
}

/// The view tree of `layout`.
fn tree(layout: &Layout) -> Node {
    let eye = EyeControls3D::new()
        .with_kind(Eye3DKind::Orbital)
        .with_position(Position3D(vec3(&layout.eye)))
        .with_look_target(Position3D(vec3(&layout.look_at)))
        .with_eye_up(Vector3D(Vec3D([0.0, 0.0, 1.0])));
    let mut world = Node::view("3D", "world", paths::WORLD);
    if let Node::View {
        eye: slot,
        contents,
        ..
    } = &mut world
    {
        *slot = Some(Box::new(eye));
        // Images live in their own views: in 3D a depth image becomes a
        // point cloud that hides the scene. The frusta stay.
        contents.extend(
            layout
                .cameras
                .iter()
                .map(|c| format!("- /{}", paths::camera_image(c))),
        );
    }
    let left = if layout.cameras.is_empty() {
        world
    } else {
        let cameras = layout
            .cameras
            .iter()
            .map(|c| Node::view("2D", c.as_str(), &paths::camera(c)))
            .collect();
        let row = Node::split(ContainerKind::Horizontal, &[], cameras);
        Node::split(ContainerKind::Vertical, &[3.2, 1.0], vec![world, row])
    };
    let mut plots: Vec<Node> = layout
        .plots()
        .into_iter()
        .map(|(title, series)| {
            let mut view = Node::view("TimeSeries", title, "/");
            if let Node::View { contents, .. } = &mut view {
                *contents = series.iter().map(|s| format!("/{}", s.path())).collect();
            }
            view
        })
        .collect();
    plots.push(Node::view("TextLog", "events", paths::EVENTS));
    let right = Node::split(ContainerKind::Vertical, &[], plots);
    Node::split(ContainerKind::Horizontal, &[0.64, 0.36], vec![left, right])
}

/// Sends `layout` as the recording's blueprint, activated and made the
/// application's default.
pub(crate) fn send(rec: &RecordingStream, layout: &Layout) -> RecordingStreamResult<()> {
    let app = rec
        .store_info()
        .map(|info| info.application_id().clone())
        .unwrap_or_else(|| "recede".into());
    let (bp, storage) = RecordingStreamBuilder::new(app).blueprint().memory()?;
    // The viewer reads blueprint data on this timeline.
    bp.set_time_sequence("blueprint", 0);
    let mut next = 1;
    let root = tree(layout).log(&bp, &mut next)?;
    let root_id = id(1);
    debug_assert_eq!(root, format!("container/{}", hyphenated(root_id)));
    bp.log(
        "viewport",
        &ViewportBlueprint::new()
            .with_root_container(RootContainer(rerun::datatypes::Uuid { bytes: root_id }))
            .with_auto_layout(false)
            .with_auto_views(false),
    )?;
    for panel in ["blueprint_panel", "selection_panel"] {
        bp.log(
            panel,
            &PanelBlueprint::new().with_state(PanelState::Collapsed),
        )?;
    }
    // Following: a live stream is watched as it comes, a file opens at its
    // end with every plot complete (and `--duration` picks that moment).
    bp.log(
        "time_panel",
        &TimePanelBlueprint::new()
            .with_state(PanelState::Collapsed)
            .with_timeline(TimelineName(paths::SIM_TIME.into()))
            .with_play_state(PlayState::Following),
    )?;
    let msgs = storage.take();
    let Some(blueprint_id) = msgs.first().map(|m| m.store_id().clone()) else {
        return Ok(());
    };
    rec.send_blueprint(
        msgs,
        BlueprintActivationCommand {
            blueprint_id,
            make_active: true,
            make_default: true,
        },
    );
    Ok(())
}

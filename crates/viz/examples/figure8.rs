//! Writes a synthetic quadrotor figure-eight recording that exercises every
//! entity path, for looking at the layout in the viewer:
//!
//! ```text
//! cargo run -p recede-viz --example figure8 -- figure8.rrd
//! rerun figure8.rrd
//! ```

use std::f64::consts::TAU;

use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector3};
use recede_viz::{
    CameraSpec, Layout, Level, Obstacle, ObstacleSource, Recorder, RobotKind, RobotPose, Series,
    Stamp, When,
};

fn figure8(t: f64) -> Point3<f64> {
    let w = TAU / 8.0;
    Point3::new(2.0 * (w * t).sin(), 1.0 * (2.0 * w * t).sin(), 1.5)
}

fn main() -> Result<(), recede_viz::VizError> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "figure8.rrd".to_owned());
    let recorder = Recorder::to_file(&path)?;
    let (w, h) = (160_u32, 120_u32);
    recorder.declare_robot(RobotKind::Quadrotor {
        arm_length_m: 0.2,
        rotor_radius_m: 0.08,
    });
    // Forward-looking cameras: optical z along body +x, y down.
    let body_from_optical =
        UnitQuaternion::from_basis_unchecked(&[-Vector3::y(), -Vector3::z(), Vector3::x()]);
    for name in ["rgb", "depth", "infrared"] {
        recorder.declare_camera(&CameraSpec {
            name: name.to_owned(),
            resolution_px: [w, h],
            focal_length_px: [120.0, 120.0],
            principal_point_px: [80.0, 60.0],
            body_from_camera: Isometry3::from_parts(
                Translation3::new(0.1, 0.0, 0.0),
                body_from_optical,
            ),
        });
    }
    recorder.declare_series(Series::State, &["x", "y", "z"]);
    recorder.declare_series(Series::Command, &["f0", "f1", "f2", "f3"]);
    let reference: Vec<Point3<f64>> = (0..=400).map(|i| figure8(f64::from(i) * 0.02)).collect();
    recorder.log_reference(When::Static, &reference);
    let pillars = [
        Obstacle::Box {
            center: Point3::new(0.0, 1.6, 1.0),
            half_sizes_m: Vector3::new(0.2, 0.2, 1.0),
            rotation: UnitQuaternion::identity(),
        },
        Obstacle::Sphere {
            center: Point3::new(0.0, -1.6, 1.5),
            radius_m: 0.3,
        },
    ];
    recorder.log_obstacles(When::Static, ObstacleSource::True, &pillars);
    recorder.log_targets(When::Static, &[figure8(2.0), figure8(6.0)]);
    let mut layout = Layout::framing(&reference);
    layout.cameras = vec!["rgb".into(), "depth".into(), "infrared".into()];
    recorder.send_blueprint(&layout);

    let dt = 0.02;
    for step in 0..400_u64 {
        let t = step as f64 * dt;
        let stamp = Stamp::new(step, t);
        let p = figure8(t);
        let v = figure8(t + dt) - p;
        let yaw = v.y.atan2(v.x);
        let attitude = UnitQuaternion::from_euler_angles(0.1 * v.y / dt, -0.1 * v.x / dt, yaw);
        recorder.log_pose(stamp, RobotPose::rigid(p, attitude));
        let horizon: Vec<Point3<f64>> = (0..20)
            .map(|k| figure8(t + f64::from(k) * 0.05) + Vector3::new(0.0, 0.0, 0.02 * f64::from(k)))
            .collect();
        recorder.log_prediction(stamp, &horizon);
        let perceived: Vec<Obstacle> = pillars
            .iter()
            .map(|o| match *o {
                Obstacle::Box {
                    center,
                    half_sizes_m,
                    rotation,
                } => Obstacle::Box {
                    center: center + Vector3::new(0.05 * (t * 3.0).sin(), 0.0, 0.0),
                    half_sizes_m: half_sizes_m * 1.1,
                    rotation,
                },
                other => other,
            })
            .collect();
        recorder.log_obstacles(stamp, ObstacleSource::Perceived, &perceived);
        if step % 3 == 0 {
            let rgb: Vec<u8> = (0..w * h)
                .flat_map(|i| {
                    let (x, y) = (i % w, i / w);
                    [(x + step as u32) as u8, y as u8 * 2, 128]
                })
                .collect();
            let depth: Vec<f32> = (0..w * h).map(|i| 1.0 + (i / w) as f32 * 0.05).collect();
            let ir: Vec<f32> = (0..w * h)
                .map(|i| {
                    let (x, y) = ((i % w) as f32 - 80.0, (i / w) as f32 - 60.0);
                    293.0 + 60.0 * (-(x * x + y * y) / 400.0).exp()
                })
                .collect();
            recorder.log_rgb(stamp, "rgb", [w, h], &rgb);
            recorder.log_depth(stamp, "depth", [w, h], &depth);
            recorder.log_infrared(stamp, "infrared", [w, h], &ir);
        }
        let scan: Vec<Point3<f64>> = (0..90)
            .map(|k| {
                let a = f64::from(k) * TAU / 90.0;
                Point3::new(3.0 * a.cos(), 3.0 * a.sin(), -1.5)
            })
            .collect();
        recorder.log_lidar(stamp, &scan);
        recorder.log_series(stamp, Series::State, &[p.x, p.y, p.z]);
        recorder.log_series(stamp, Series::Command, &[2.4, 2.5, 2.4, 2.5]);
        recorder.log_series(stamp, Series::StepTimeUs, &[180.0 + 40.0 * (t * 5.0).sin()]);
        recorder.log_series(
            stamp,
            Series::QpIterations,
            &[f64::from(10 + (step % 7) as u32)],
        );
        recorder.log_series(stamp, Series::ResidualNorm, &[0.05 * (t * 0.7).cos().abs()]);
        recorder.log_series(stamp, Series::EstimatorStd, &[0.02, 0.02, 0.01]);
        if step % 100 == 50 {
            recorder.log_event(
                stamp,
                Level::Warn,
                "solver over budget: fallback to shifted plan",
            );
        }
    }
    let stats = recorder.finish()?;
    eprintln!("wrote {path}: {stats:?}");
    Ok(())
}

//! Depth of a plane at a known distance; infrared over a hot object reads
//! its temperature, the background reads ambient; RGB sees the colours.

use nalgebra::{Isometry3, Point3, Vector3};
use recede_msg::{Measurement, SensorId};
use recede_sim::config::SensorConfig;
use recede_sim::plant::BodyState;
use recede_sim::sensors::{BodyShape, RenderCache, SampleContext, Sensor};
use recede_sim::world::{Ground, Object, Shape, World, Yaw};

const AMBIENT: f64 = 290.0;

fn body_at(x: f64, z: f64) -> BodyState {
    BodyState {
        world_from_body: Isometry3::translation(x, 0.0, z),
        velocity_world_mps: Vector3::zeros(),
        accel_world_mps2: Vector3::zeros(),
        angular_velocity_body_radps: Vector3::zeros(),
        angular_accel_body_radps2: Vector3::zeros(),
    }
}

fn camera(kind: &str, extra: &str) -> Sensor {
    let c: SensorConfig = toml::from_str(&format!(
        r#"
        name = "cam"
        rate_hz = 30.0
        mount = {{ translation_m = [0.2, 0.0, 0.0] }}
        model = {{ kind = "{kind}", width_px = 160, height_px = 120, hfov_rad = 1.2 {extra} }}
        "#
    ))
    .expect("camera config");
    Sensor::new(SensorId(0), &c, 5)
}

fn shoot(sensor: &mut Sensor, world: &World, body: &BodyState) -> Measurement {
    let ctx = SampleContext {
        t_secs: 0.0,
        body,
        encoder_angles_rad: &[],
        world,
        shape: BodyShape::NONE,
    };
    sensor
        .sample(&ctx, &mut RenderCache::default())
        .expect("no dropout configured")
        .measurement
}

fn wall_world() -> World {
    let mut w = World::new(AMBIENT, 240.0, [100, 150, 250]).with_ground(Ground {
        height_m: 0.0,
        color_rgb: [90, 90, 90],
        temperature_k: AMBIENT,
    });
    // Front face at x = 6.
    w.add_object(Object::new(
        "wall",
        Shape::Box {
            center: Point3::new(6.5, 0.0, 5.0),
            half_extents: Vector3::new(0.5, 50.0, 5.0),
            yaw: Yaw::zero(),
        },
        [200, 20, 20],
        AMBIENT,
    ));
    w.add_object(Object::new(
        "heater",
        Shape::Sphere {
            center: Point3::new(3.0, 0.0, 2.0),
            radius: 0.5,
        },
        [255, 255, 0],
        450.0,
    ));
    w
}

#[test]
fn depth_of_a_fronto_parallel_plane_is_its_distance_at_every_pixel() {
    let mut world = World::new(AMBIENT, 240.0, [0, 0, 0]);
    world.add_object(Object::new(
        "wall",
        Shape::Box {
            center: Point3::new(6.5, 0.0, 0.0),
            half_extents: Vector3::new(0.5, 100.0, 100.0),
            yaw: Yaw::zero(),
        },
        [200, 20, 20],
        AMBIENT,
    ));
    // Camera at x = 0.2 looking along +x: the plane x = 6 is 5.8 m away.
    let body = body_at(0.0, 1.0);
    let Measurement::DepthImage(img) = shoot(
        &mut camera("depth_camera", ", max_range_m = 20.0"),
        &world,
        &body,
    ) else {
        panic!("not a depth image")
    };
    assert_eq!(
        (img.width_px, img.height_px, img.data.len()),
        (160, 120, 19200)
    );
    assert!(
        img.data.iter().all(|d| (d - 5.8).abs() < 1e-4),
        "{:?}",
        &img.data[..4]
    );

    // Beyond the maximum range every pixel is invalid (NaN).
    let Measurement::DepthImage(far) = shoot(
        &mut camera("depth_camera", ", max_range_m = 5.0"),
        &world,
        &body,
    ) else {
        panic!("not a depth image")
    };
    assert!(far.data.iter().all(|d| d.is_nan()));

    // With noise, the mean stays at the distance and the spread matches
    // noise_std_m + noise_std_quadratic_per_m * d^2 = 0.01 + 0.001 * 33.64.
    let extra = ", max_range_m = 20.0, noise_std_m = 0.01, noise_std_quadratic_per_m = 0.001";
    let Measurement::DepthImage(noisy) = shoot(&mut camera("depth_camera", extra), &world, &body)
    else {
        panic!("not a depth image")
    };
    let n = noisy.data.len() as f64;
    let mean = noisy.data.iter().map(|&d| d as f64).sum::<f64>() / n;
    let var = noisy
        .data
        .iter()
        .map(|&d| (d as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let std = 0.01 + 0.001 * 5.8 * 5.8;
    assert!((mean - 5.8).abs() < 5.0 * std / n.sqrt(), "mean {mean}");
    assert!(
        (var.sqrt() / std - 1.0).abs() < 0.05,
        "std {} vs {std}",
        var.sqrt()
    );
}

#[test]
fn infrared_reads_hot_object_temperature_and_ambient_background() {
    let world = wall_world();
    // Camera at (0.2, 0, 2) looking along +x: the heater at x = 3 is at the
    // image centre, the wall behind it, the ground in the lower rows.
    let body = body_at(0.0, 2.0);
    let Measurement::InfraredImage(ir) = shoot(
        &mut camera("infrared_camera", ", noise_std_k = 0.5"),
        &world,
        &body,
    ) else {
        panic!("not an infrared image")
    };
    let centre = ir.get(80, 60).expect("in image") as f64;
    assert!((centre - 450.0).abs() < 2.5, "hot object reads {centre}");
    let corner = ir.get(2, 2).expect("in image") as f64;
    assert!((corner - AMBIENT).abs() < 2.5, "background reads {corner}");
    let bottom = ir.get(80, 118).expect("in image") as f64;
    assert!((bottom - AMBIENT).abs() < 2.5, "ground reads {bottom}");
    // Over the whole image, hot pixels are exactly those on the heater.
    let hot = ir.data.iter().filter(|&&t| t > 400.0).count();
    assert!(hot > 50 && hot < 2000, "{hot} hot pixels");

    let Measurement::RgbImage(rgb) = shoot(&mut camera("rgb_camera", ""), &world, &body) else {
        panic!("not an RGB image")
    };
    let c = rgb.get(80, 60).expect("in image");
    assert!(
        c[0] > 80 && c[1] > 80 && c[2] == 0,
        "heater is yellow: {c:?}"
    );
    let wall = rgb.get(2, 2).expect("in image");
    assert!(
        wall[0] > wall[1] && wall[0] > wall[2],
        "wall is red: {wall:?}"
    );
}

/// A camera mounted in the world (`frame = "world"`) stays where it is as
/// the body moves; it sees the plant's body (capsules along its points)
/// in depth and at the body's temperature in infrared; and one render
/// cache casts again when only the body's points change.
#[test]
fn a_world_fixed_camera_sees_the_body_from_outside() {
    let config = |kind: &str, extra: &str| -> Sensor {
        let c: SensorConfig = toml::from_str(&format!(
            r#"
            name = "{kind}"
            rate_hz = 30.0
            mount = {{ frame = "world", translation_m = [0.0, 0.0, 1.0] }}
            model = {{ kind = "{kind}", width_px = 160, height_px = 120, hfov_rad = 1.2 {extra} }}
            "#
        ))
        .expect("camera config");
        assert!(c.world_fixed());
        Sensor::new(SensorId(0), &c, 5)
    };
    let mut depth = config("depth_camera", ", max_range_m = 20.0");
    let mut infrared = config("infrared_camera", "");
    let world = wall_world();
    // A rod of radius 5 cm standing at x = 3 across the optical axis, in
    // front of the heater.
    let rod: Vec<[f64; 3]> = (0..=4).map(|i| [3.0, 0.0, 0.5 + 0.25 * i as f64]).collect();
    let aside: Vec<[f64; 3]> = rod.iter().map(|p| [p[0], 2.0, p[2]]).collect();
    let mut cache = RenderCache::default();
    let centre = |m: Measurement| match m {
        Measurement::DepthImage(img) | Measurement::InfraredImage(img) => {
            // The two pixels either side of the optical axis.
            let (w, h) = (img.width_px as usize, img.height_px as usize);
            img.data[(h / 2) * w + w / 2 - 1]
        }
        other => panic!("not an image: {other:?}"),
    };
    let mut take = |sensor: &mut Sensor, body: &BodyState, points: &[[f64; 3]]| {
        let ctx = SampleContext {
            t_secs: 0.0,
            body,
            encoder_angles_rad: &[],
            world: &world,
            shape: BodyShape {
                points,
                radius_m: 0.05,
            },
        };
        centre(
            sensor
                .sample(&ctx, &mut cache)
                .expect("sampled")
                .measurement,
        )
    };
    for body in [body_at(0.0, 0.0), body_at(5.0, 3.0)] {
        // The pixel's ray passes 13 mm beside the axis (1/2 px at 3 m):
        // the face is at 3 - sqrt(0.05^2 - 0.013^2) = 2.952 m.
        let d = take(&mut depth, &body, &rod);
        assert!((d - 2.9517).abs() < 2e-4, "depth {d}");
        let t = take(&mut infrared, &body, &rod);
        assert_eq!(t, recede_sim::sensors::BODY_TEMPERATURE_K as f32);
    }
    // The same instant, pose and intrinsics, the body moved aside: the
    // wall (6 m) is seen again, not the cached rod.
    let d = take(&mut depth, &body_at(0.0, 0.0), &aside);
    assert!((d - 6.0).abs() < 1e-3, "depth {d}");
}

//! ObstacleConstraints rows against finite differences, slots and bounds.

use nalgebra::{SVector, Vector3};
use recede_control::guidance::{ObstacleConstraintConfig, ObstacleConstraints};
use recede_mpc::{ConstraintRow, StageConstraints};
use recede_msg::{Obstacle, ObstacleShape};

fn obstacle(id: u32, shape: ObstacleShape, p: [f64; 3], r: f64) -> Obstacle {
    Obstacle {
        id,
        shape,
        position_m: Vector3::from(p),
        radius_m: r,
        position_std_m: 0.05,
        radius_std_m: 0.02,
        hits: 5,
        last_seen_secs: 0.0,
    }
}

#[test]
fn rows_match_finite_differences_and_inactive_slots_are_unbounded() {
    let config = ObstacleConstraintConfig {
        max_obstacles: 4,
        margin_m: 0.3,
        ..ObstacleConstraintConfig::default()
    };
    let mut c = ObstacleConstraints::<13>::new(&config, 0, 3).unwrap();
    let obstacles = [
        obstacle(
            1,
            ObstacleShape::Cylinder { top_m: 4.0 },
            [3.0, 1.0, 2.0],
            0.3,
        ),
        obstacle(2, ObstacleShape::Sphere, [2.0, -1.0, 1.5], 0.5),
        obstacle(3, ObstacleShape::Sphere, [f64::NAN, 0.0, 0.0], 0.5),
    ];
    c.set_obstacles(&obstacles, &Vector3::new(0.0, 0.0, 1.0));
    assert_eq!(c.rows(), 4);
    assert_eq!(c.active(), 2, "the non-finite obstacle is left out");
    assert!((0..4).all(|r| c.soft_penalty(r).is_some()));
    let mut x = SVector::<f64, 13>::zeros();
    x[0] = 0.7;
    x[1] = 0.2;
    x[2] = 1.1;
    x[3] = 1.0;
    let mut rows = [ConstraintRow::<13>::INACTIVE; 4];
    c.evaluate(3, 0.3, &x, &mut rows);
    // Nearest surface first: the sphere (about 1.6 m) before the cylinder.
    let sphere_d: f64 = (Vector3::new(0.7, 0.2, 1.1) - Vector3::new(2.0, -1.0, 1.5)).norm();
    assert!((rows[0].value - sphere_d).abs() < 1e-12);
    let cyl_d = ((0.7f64 - 3.0).powi(2) + (0.2f64 - 1.0).powi(2)).sqrt();
    assert!((rows[1].value - cyl_d).abs() < 1e-12);
    assert!((rows[0].lower - (0.5 + 0.3 + 0.05 + 0.02)).abs() < 1e-12);
    assert_eq!(rows[0].upper, f64::INFINITY);
    for r in &rows[2..] {
        assert_eq!((r.lower, r.upper), (f64::NEG_INFINITY, f64::INFINITY));
    }
    let h = 1e-6;
    for i in 0..13 {
        let mut xp = x;
        let mut xm = x;
        xp[i] += h;
        xm[i] -= h;
        let (mut rp, mut rm) = (
            [ConstraintRow::<13>::INACTIVE; 4],
            [ConstraintRow::<13>::INACTIVE; 4],
        );
        c.evaluate(3, 0.3, &xp, &mut rp);
        c.evaluate(3, 0.3, &xm, &mut rm);
        for r in 0..2 {
            let fd = (rp[r].value - rm[r].value) / (2.0 * h);
            assert!(
                (fd - rows[r].gradient[i]).abs() < 1e-6,
                "row {r} state {i}: {fd} vs {}",
                rows[r].gradient[i]
            );
        }
    }
    // The cylinder's row ignores height.
    assert_eq!(rows[1].gradient[2], 0.0);
    c.clear();
    c.evaluate(1, 0.0, &x, &mut rows);
    assert!(rows.iter().all(|r| r.lower == f64::NEG_INFINITY));
}

#[test]
fn only_the_nearest_obstacles_fill_the_slots_for_a_ground_robot() {
    let config = ObstacleConstraintConfig {
        max_obstacles: 2,
        ..ObstacleConstraintConfig::default()
    };
    let mut c = ObstacleConstraints::<5>::new(&config, 0, 2).unwrap();
    let cyl = ObstacleShape::Cylinder { top_m: 1.0 };
    let obstacles = [
        obstacle(1, cyl, [10.0, 0.0, 0.5], 0.3),
        obstacle(2, cyl, [2.0, 0.0, 0.5], 0.3),
        obstacle(3, cyl, [0.0, 3.0, 0.5], 0.3),
    ];
    c.set_obstacles(&obstacles, &Vector3::zeros());
    let mut rows = [ConstraintRow::<5>::INACTIVE; 2];
    let x = SVector::<f64, 5>::zeros();
    c.evaluate(1, 0.0, &x, &mut rows);
    let mut values: Vec<f64> = rows.iter().map(|r| r.value).collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, vec![2.0, 3.0]);
    assert!(ObstacleConstraints::<5>::new(&config, 4, 2).is_err());
    let bad = ObstacleConstraintConfig {
        margin_m: -1.0,
        ..config
    };
    let e = ObstacleConstraints::<5>::new(&bad, 0, 2).unwrap_err();
    assert!(
        e.to_string().contains("perception.constraints.margin_m"),
        "{e}"
    );
}

/// `body_extent` rows on a quadrotor: the clearance of the nearest of its
/// hub and rotor balls from a pillar's axis (computed here from the balls
/// the contact check counts), and their position gradient against finite
/// differences (the attitude enters at the plan: no attitude gradient).
#[test]
fn body_extent_rows_are_the_nearest_balls_clearance_and_match_finite_differences() {
    use recede_control::guidance::BodyExtent;
    use recede_model::robots::{Body, Pose};
    let (arm, rotor) = (0.17, 0.068);
    let body = Body::Quadrotor {
        arm_length_m: arm,
        rotor_radius_m: rotor,
    };
    let pose = |x: &[f64; 13]| Pose::Rigid {
        position_m: [x[0], x[1], x[2]],
        attitude: [x[3], x[4], x[5], x[6]],
    };
    let config = ObstacleConstraintConfig {
        max_obstacles: 1,
        margin_m: 0.01,
        body_extent: true,
        ..ObstacleConstraintConfig::default()
    };
    let centre = [0.0, 0.0, 2.0];
    let pillar = obstacle(1, ObstacleShape::Cylinder { top_m: 4.0 }, centre, 0.15);
    let mut c = ObstacleConstraints::<13>::new(&config, 0, 3)
        .unwrap()
        .with_body(BodyExtent::new(body, pose))
        .unwrap();
    c.set_obstacles(&[pillar], &Vector3::new(0.5, 0.0, 2.0));
    let mut seed = 11u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    for _ in 0..100 {
        let mut x = SVector::<f64, 13>::zeros();
        let (angle, dist) = (std::f64::consts::PI * next(), 0.45 + 0.3 * next());
        x[0] = dist * angle.cos();
        x[1] = dist * angle.sin();
        x[2] = 2.0 + 0.5 * next();
        // Yaw anywhere, tilt up to ~30 degrees.
        let q =
            nalgebra::UnitQuaternion::from_euler_angles(0.5 * next(), 0.5 * next(), 3.0 * next());
        x[3] = q.w;
        x[4] = q.i;
        x[5] = q.j;
        x[6] = q.k;
        let mut row = [ConstraintRow::<13>::INACTIVE; 1];
        c.evaluate(0, 0.0, &x, &mut row);
        // Every ball: hub and rotors, horizontal distance to the axis.
        let p = Vector3::new(x[0], x[1], 0.0);
        let mut nearest = p.norm() - rotor;
        for i in 0..4 {
            let a = std::f64::consts::FRAC_PI_4 + i as f64 * std::f64::consts::FRAC_PI_2;
            let mut o = q * Vector3::new(arm * a.cos(), arm * a.sin(), 0.0);
            o.z = 0.0;
            nearest = nearest.min((p + o).norm() - rotor);
        }
        assert!(
            (row[0].value - nearest).abs() < 1e-12,
            "the row {} against the balls' {nearest}",
            row[0].value
        );
        assert!((row[0].lower - (0.15 + 0.01 + 0.07)).abs() < 1e-12);
        let h = 1e-7;
        for i in 0..3 {
            let (mut xp, mut xm) = (x, x);
            xp[i] += h;
            xm[i] -= h;
            let (mut rp, mut rm) = (
                [ConstraintRow::<13>::INACTIVE; 1],
                [ConstraintRow::<13>::INACTIVE; 1],
            );
            c.evaluate(0, 0.0, &xp, &mut rp);
            c.evaluate(0, 0.0, &xm, &mut rm);
            let fd = (rp[0].value - rm[0].value) / (2.0 * h);
            assert!(
                (fd - row[0].gradient[i]).abs() < 1e-5,
                "state {i}: {fd} against {}",
                row[0].gradient[i]
            );
        }
        assert!((3..13).all(|i| row[0].gradient[i] == 0.0));
    }
}

#[test]
fn body_extent_on_a_body_without_balls_is_refused_naming_the_key() {
    let config = ObstacleConstraintConfig {
        body_extent: true,
        ..ObstacleConstraintConfig::default()
    };
    let e = ObstacleConstraints::<13>::new(&config, 0, 3)
        .unwrap()
        .with_body(None)
        .unwrap_err();
    assert!(e.to_string().contains("body_extent"), "{e}");
}

/// The values of the rows of one node, slot by slot (inactive: infinite).
fn slot_values(c: &ObstacleConstraints<5>, x: &SVector<f64, 5>) -> Vec<f64> {
    let mut rows = [ConstraintRow::<5>::INACTIVE; 3];
    c.evaluate(1, 0.0, x, &mut rows);
    rows.iter()
        .map(|r| {
            if r.lower.is_finite() {
                r.value
            } else {
                f64::INFINITY
            }
        })
        .collect()
}

#[test]
fn an_obstacle_keeps_its_slot_while_it_stays_among_the_nearest() {
    let config = ObstacleConstraintConfig {
        max_obstacles: 3,
        ..ObstacleConstraintConfig::default()
    };
    let mut c = ObstacleConstraints::<5>::new(&config, 0, 2).unwrap();
    let cyl = ObstacleShape::Cylinder { top_m: 1.0 };
    let at = |id, x: f64, y: f64| obstacle(id, cyl, [x, y, 0.5], 0.0);
    let x = SVector::<f64, 5>::zeros();
    // First fill: nearest first.
    c.set_obstacles(&[at(7, 3.0, 0.0), at(8, 1.0, 0.0)], &Vector3::zeros());
    assert_eq!(slot_values(&c, &x), vec![1.0, 3.0, f64::INFINITY]);
    // Obstacle 7 is now the nearer one, and 9 comes in: 8 and 7 stay put,
    // 9 takes the free slot.
    let later = [at(8, 2.5, 0.0), at(7, 2.0, 0.0), at(9, 0.0, 4.0)];
    c.set_obstacles(&later, &Vector3::zeros());
    assert_eq!(slot_values(&c, &x), vec![2.5, 2.0, 4.0]);
    // A nearer newcomer (10) pushes out the farthest (9) and takes its
    // slot; the others do not move.
    let next = [
        at(9, 0.0, 4.0),
        at(7, 2.0, 0.0),
        at(10, 0.0, -1.5),
        at(8, 2.5, 0.0),
    ];
    c.set_obstacles(&next, &Vector3::zeros());
    assert_eq!(slot_values(&c, &x), vec![2.5, 2.0, 1.5]);
    // Whatever the history, the slots hold the nearest obstacles.
    let mut values = slot_values(&c, &x);
    values.sort_by(f64::total_cmp);
    assert_eq!(values, vec![1.5, 2.0, 2.5]);
    // Obstacles that all share an id (a driver that numbers none) still
    // fill every slot once each.
    let same = [
        at(0, 1.0, 0.0),
        at(0, 2.0, 0.0),
        at(0, 3.0, 0.0),
        at(0, 9.0, 0.0),
    ];
    c.set_obstacles(&same, &Vector3::zeros());
    c.set_obstacles(&same[1..], &Vector3::zeros());
    let mut values = slot_values(&c, &x);
    values.sort_by(f64::total_cmp);
    assert_eq!(values, vec![2.0, 3.0, 9.0]);
}

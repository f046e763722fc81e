use super::file::mapped_fix;
use super::*;
use recede_model::file::{FileRobot, ModelFile};
use recede_model::robots::ContinuumArm;
use recede_msg::MAX_DIM;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/models")
}

/// The fix's position (3 rows) and yaw by AD against central
/// differences of the same function on `f64`.
fn check_fix_jacobian<const NX: usize>(model: &ModelFile, x: [f64; NX], lever: Vector3<f64>) {
    let (h0, j) = jacobian::<NX, 4>(|d| {
        let s = SVector::<DualSVec64<NX>, NX>::from_fn(|i, _| d[i] + x[i]);
        let (p, yaw) = mapped_fix(model, s.as_slice(), &lever);
        SVector::<DualSVec64<NX>, 4>::new(p[0], p[1], p[2], yaw)
    });
    let f = |x: &[f64; NX]| {
        let (p, yaw) = mapped_fix(model, x, &lever);
        [p[0], p[1], p[2], yaw]
    };
    assert_eq!(h0.as_slice(), f(&x), "values");
    let eps = 1e-6;
    for i in 0..NX {
        let (mut a, mut b) = (x, x);
        a[i] += eps;
        b[i] -= eps;
        let (fa, fb) = (f(&a), f(&b));
        for r in 0..4 {
            let fd = (fa[r] - fb[r]) / (2.0 * eps);
            assert!(
                (j[(r, i)] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                "row {r}, state {i}: AD {} vs differences {fd}",
                j[(r, i)]
            );
        }
    }
    assert!(
        j.iter().any(|v| v.abs() > 1e-3),
        "a Jacobian that says something"
    );
}

#[test]
fn fix_jacobian_of_a_model_file_matches_finite_differences() {
    let vtol = recede_model::file::load(&models().join("vtol.toml")).unwrap();
    let x = [0.4, 1.2, 0.3, 0.5, -0.2, 0.7];
    check_fix_jacobian(&vtol, x, Vector3::new(0.1, 0.02, 0.05));
    check_fix_jacobian(&vtol, x, Vector3::zeros());
}

#[test]
fn fix_jacobian_of_a_urdf_tip_matches_finite_differences() {
    let arm = recede_model::urdf::load(
        &models().join("arm6.urdf"),
        &Default::default(),
        &BTreeMap::new(),
    )
    .unwrap();
    let x = [0.3, 0.5, 0.9, -0.4, 0.6, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    check_fix_jacobian(&arm, x, Vector3::new(0.0, 0.0, 0.08));
}

#[test]
fn encoder_update_picks_the_named_states() {
    let cartpole = recede_model::file::load(&models().join("cartpole.toml")).unwrap();
    let sensing = FileSensing::new(&cartpole);
    assert_eq!((sensing.channels, sensing.encoders[0]), (1, 1));
    let noise = ModelNoise {
        fix_std: 0.01,
        yaw_std: 0.01,
        gyro_std: 0.01,
        speed_std: 0.01,
        ticks_per_rev: 4096,
        gate_fix: 16.0,
        gate_yaw: 10.0,
        gate_encoders: 14.0,
        gate_imu: 16.0,
        accel_std: 4.0,
        max_step: 0.01,
        gate_reset_after: 25,
    };
    let robot = FileRobot::<4, 1>::new(std::sync::Arc::new(cartpole)).unwrap();
    let mut f = ModelFilter::new(
        robot,
        Kind::File(sensing),
        &[0.0, 0.5, 0.0, 0.0],
        &[0.1, 0.1, 0.1, 0.1],
        &[0.0; 4],
        noise,
    );
    // theta = 0.52 rad is tick 339 of 4096.
    let mut ticks = [0; MAX_DIM];
    ticks[0] = (0.52 * 4096.0 / std::f64::consts::TAU).floor() as i64;
    assert_eq!(f.encoders(&ticks, 1), Outcome::Used);
    assert!((f.x[1] - 0.52).abs() < 2e-3, "theta {}", f.x[1]);
    assert!(f.x[0].abs() < 1e-12, "p untouched: {}", f.x[0]);
    assert!(f.p[(1, 1)].sqrt() < 3e-3 && f.p[(0, 0)].sqrt() > 0.09);
    // A fix through the position mapping [p, 0, 0].
    let o = f.fix(&Vector3::new(0.2, 0.0, 0.0), 0.0, &Vector3::zeros());
    assert_eq!(o, Outcome::Used);
    assert!((f.x[0] - 0.2).abs() < 0.01, "p {}", f.x[0]);
}

/// The continuum arm's tip fix (through the PCC forward kinematics,
/// with a lever on the tip frame) and tip IMU (gravity in the tip
/// frame, the pitch rate) pin the tip's position and angle, and the
/// rates' sum: a filter started near a bent arm lands on its tip
/// pose. Not quite on its curvatures: near straight the tip's height is of
/// second order in them, so one combination is barely observed (the
/// filter's dynamics and its prior fill it in).
#[test]
fn a_continuum_arm_filter_finds_the_curvatures_from_the_tip_sensors() {
    let params = ContinuumArmParams::default();
    let noise = ModelNoise {
        fix_std: 0.001,
        yaw_std: 0.01,
        gyro_std: 0.01,
        speed_std: 0.01,
        ticks_per_rev: 4096,
        gate_fix: 16.0,
        gate_yaw: 10.0,
        gate_encoders: 14.0,
        gate_imu: 16.0,
        accel_std: 0.1,
        max_step: 0.01,
        gate_reset_after: 3,
    };
    // Started 0.1 1/m off (a 3 mm tip error), in the linear region:
    // repeated updates of one reading shrink the covariance like
    // independent ones, they do not iterate to a far minimum.
    let filter = |k: &SVector<f64, 3>| {
        ModelFilter::new(
            ContinuumArm::new(params).unwrap(),
            Kind::ContinuumArm(params),
            &[k[0] + 0.1, k[1] - 0.1, k[2] + 0.1, 0.0, 0.0, 0.0],
            &[0.3, 0.3, 0.3, 1.0, 1.0, 1.0],
            &[0.0; 6],
            noise,
        )
    };
    let g = recede_model::GRAVITY;
    let l = pcc::section_length(&params, ARM_NS);
    let lever = Vector3::new(0.01, 0.0, 0.005);
    let rates = [0.2, -0.1, 0.3];
    let gyro = Vector3::new(0.0, -l * rates.iter().sum::<f64>(), 0.0);
    for kappa in [[0.4, -0.3, 0.5], [1.0, -0.5, 1.5]] {
        let kappa = SVector::<f64, 3>::from(kappa);
        let ([tx, tz], angle) = pcc::tip(&params, &kappa);
        let (sn, cs) = angle.sin_cos();
        let fix = Vector3::new(
            tx + cs * lever.x - sn * lever.z,
            0.0,
            tz + sn * lever.x + cs * lever.z,
        );
        let specific_force = Vector3::new(g * sn, 0.0, g * cs);
        let mut f = filter(&kappa);
        for _ in 0..50 {
            assert_eq!(f.fix(&fix, 0.0, &lever), Outcome::Used);
            assert_eq!(f.gyro(&specific_force, &gyro), Outcome::Used);
        }
        let seen = f.world_from_body();
        let tip = Vector3::new(tx, 0.0, tz);
        assert!(
            (seen.translation.vector - tip).norm() < 2e-4,
            "{seen:?} vs {tip}"
        );
        let k = SVector::<f64, 3>::new(f.x[0], f.x[1], f.x[2]);
        assert!((pcc::tip(&params, &k).1 - angle).abs() < 2e-3, "{k}");
        // The update did move all three, and along the truth's sum.
        assert!((k.sum() - kappa.sum()).abs() < 0.02, "{k} vs {kappa}");
        let rate: f64 = (3..6).map(|j| f.x[j]).sum::<f64>() * l;
        assert!((rate + gyro.y).abs() < 1e-3, "tip rate {rate}");
    }
    // Straight and still, the tip hangs at -L on z.
    let pose = ModelFilter::new(
        ContinuumArm::new(params).unwrap(),
        Kind::ContinuumArm(params),
        &[0.0; 6],
        &[1.0; 6],
        &[0.0; 6],
        noise,
    )
    .world_from_body();
    assert!((pose.translation.vector - Vector3::new(0.0, 0.0, -0.45)).norm() < 1e-12);
}

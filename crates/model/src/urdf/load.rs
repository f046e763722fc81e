//! From a URDF's text to a checked [`Chain`] inside a [`ModelFile`]:
//! the link tree (one root, no loops, every joint's links present), the
//! controlled joints in a serial chain, every number finite, masses and
//! inertias physical, and the mass matrix positive definite where the
//! robot starts. Errors name the file and the link, joint or key.

use std::collections::{BTreeMap, HashMap};

use nalgebra::{Matrix3, Rotation3, Vector3};
use urdf_rs::{JointType, Pose};

use super::chain::{mass_matrix_at, Chain, ChainJoint, MAX_JOINTS};
use super::{default_parameters, UrdfOptions};
use crate::file::{is_supported, supported_sizes, Backend, FileError, ModelFile};

/// A rigid transform: rotation and translation.
#[derive(Clone, Copy)]
struct Frame {
    rotation: Matrix3<f64>,
    translation: Vector3<f64>,
}

impl Frame {
    fn identity() -> Self {
        Self {
            rotation: Matrix3::identity(),
            translation: Vector3::zeros(),
        }
    }

    fn then(&self, inner: &Frame) -> Frame {
        Frame {
            rotation: self.rotation * inner.rotation,
            translation: self.translation + self.rotation * inner.translation,
        }
    }
}

/// Mass properties being lumped into one body, in its frame.
#[derive(Clone, Copy, Default)]
struct Lump {
    mass: f64,
    /// Sum of mass times centre of mass.
    first: Vector3<f64>,
    /// Rotational inertia about the body's origin.
    about_origin: Matrix3<f64>,
}

impl Lump {
    fn add(&mut self, mass: f64, com: Vector3<f64>, inertia_com: Matrix3<f64>) {
        self.mass += mass;
        self.first += com * mass;
        self.about_origin +=
            inertia_com + (Matrix3::identity() * com.norm_squared() - com * com.transpose()) * mass;
    }

    /// Mass, centre of mass and inertia about the centre of mass.
    fn finish(&self) -> (f64, Vector3<f64>, Matrix3<f64>) {
        if self.mass <= 0.0 {
            return (0.0, Vector3::zeros(), Matrix3::zeros());
        }
        let com = self.first / self.mass;
        let inertia = self.about_origin
            - (Matrix3::identity() * com.norm_squared() - com * com.transpose()) * self.mass;
        (self.mass, com, inertia)
    }
}

pub(super) fn build(
    text: &str,
    origin: &str,
    options: &UrdfOptions,
    overrides: &BTreeMap<String, f64>,
) -> Result<ModelFile, FileError> {
    let fail = |element: String, problem: String| FileError::Urdf {
        file: origin.to_string(),
        element,
        problem,
    };
    let robot = urdf_rs::read_from_string(text).map_err(|e| FileError::Read {
        file: origin.to_string(),
        message: format!("not a URDF: {e}"),
    })?;

    // Parameters.
    let mut parameters = default_parameters();
    for (k, v) in overrides {
        match parameters.get_mut(k) {
            Some(slot) => *slot = *v,
            None => {
                return Err(FileError::Invalid {
                    file: origin.to_string(),
                    key: format!("params.{k}"),
                    expected: format!(
                        "a URDF robot's parameter ({})",
                        default_parameters()
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    found: "none named so".into(),
                })
            }
        }
    }
    for (k, v) in &parameters {
        let ok = v.is_finite()
            && match k.as_str() {
                "payload_mass_kg" | "friction_scale" | "gravity_mps2" => *v >= 0.0,
                "coulomb_rate_radps" => *v > 0.0,
                _ => true,
            };
        if !ok {
            return Err(FileError::Invalid {
                file: origin.to_string(),
                key: format!("params.{k}"),
                expected: "a finite number (>= 0 for masses, scales and gravity; > 0 for coulomb_rate_radps)".into(),
                found: v.to_string(),
            });
        }
    }

    // The link tree.
    let mut links: HashMap<&str, &urdf_rs::Link> = HashMap::new();
    for link in &robot.links {
        if links.insert(link.name.as_str(), link).is_some() {
            return Err(fail(
                format!("link `{}`", link.name),
                "defined twice".into(),
            ));
        }
    }
    let mut parent_joint: HashMap<&str, &urdf_rs::Joint> = HashMap::new();
    let mut joint_names = HashMap::new();
    for joint in &robot.joints {
        let element = format!("joint `{}`", joint.name);
        if joint_names.insert(joint.name.as_str(), ()).is_some() {
            return Err(fail(element, "defined twice".into()));
        }
        for (role, link) in [("parent", &joint.parent.link), ("child", &joint.child.link)] {
            if !links.contains_key(link.as_str()) {
                return Err(fail(
                    element,
                    format!("its {role} link `{link}` is not in the file"),
                ));
            }
        }
        if let Some(other) = parent_joint.insert(joint.child.link.as_str(), joint) {
            return Err(fail(
                format!("link `{}`", joint.child.link),
                format!(
                    "is the child of joints `{}` and `{}`: a loop (a URDF is a tree)",
                    other.name, joint.name
                ),
            ));
        }
        check_pose(&joint.origin).map_err(|p| fail(format!("{element} <origin>"), p))?;
        check_finite(&joint.axis.xyz.0).map_err(|p| fail(format!("{element} <axis xyz>"), p))?;
        if let Some(d) = &joint.dynamics {
            for (key, v) in [("damping", d.damping), ("friction", d.friction)] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(fail(
                        format!("{element} <dynamics {key}>"),
                        format!("expected a finite value >= 0, found {v}"),
                    ));
                }
            }
        }
    }
    let roots: Vec<&str> = robot
        .links
        .iter()
        .map(|l| l.name.as_str())
        .filter(|l| !parent_joint.contains_key(l))
        .collect();
    let root = match roots.as_slice() {
        [root] => *root,
        [] => {
            return Err(fail(
                "links".into(),
                "every link has a parent joint: a loop (a URDF is a tree with one root)".into(),
            ))
        }
        many => {
            return Err(fail(
                "links".into(),
                format!(
                    "several roots ({}): the links are not one tree",
                    many.join(", ")
                ),
            ))
        }
    };
    let mut children: HashMap<&str, Vec<&urdf_rs::Joint>> = HashMap::new();
    for joint in &robot.joints {
        children
            .entry(joint.parent.link.as_str())
            .or_default()
            .push(joint);
    }

    // The controlled joints.
    let movable = |j: &urdf_rs::Joint| {
        matches!(
            j.joint_type,
            JointType::Revolute | JointType::Continuous | JointType::Prismatic
        )
    };
    let controlled: Vec<&urdf_rs::Joint> = match &options.joints {
        Some(names) => names
            .iter()
            .map(|name| {
                let joint = robot
                    .joints
                    .iter()
                    .find(|j| &j.name == name)
                    .ok_or_else(|| {
                        fail(
                            format!("joints: `{name}`"),
                            format!(
                                "no such joint in the file (joints: {})",
                                robot
                                    .joints
                                    .iter()
                                    .map(|j| j.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?;
                if !movable(joint) {
                    return Err(fail(
                        format!("joint `{name}`"),
                        format!(
                            "is {:?}: a controlled joint is revolute, continuous or prismatic",
                            joint.joint_type
                        ),
                    ));
                }
                Ok(joint)
            })
            .collect::<Result<_, _>>()?,
        None => robot.joints.iter().filter(|j| movable(j)).collect(),
    };
    if controlled.is_empty() || controlled.len() > MAX_JOINTS {
        return Err(fail(
            "joints".into(),
            format!(
                "expected 1 to {MAX_JOINTS} controlled joints, found {}",
                controlled.len()
            ),
        ));
    }
    let n = controlled.len();
    if !is_supported(2 * n, n) {
        return Err(FileError::UnsupportedSize {
            file: origin.to_string(),
            nx: 2 * n,
            nu: n,
            supported: supported_sizes(),
        });
    }
    let index: HashMap<&str, usize> = controlled
        .iter()
        .enumerate()
        .map(|(i, j)| (j.name.as_str(), i + 1))
        .collect();

    // Walk the tree from the root: each link's body (0 = the fixed base,
    // k = moved by controlled joint k) and its frame in that body's frame.
    let mut body_of: HashMap<&str, (usize, Frame)> = HashMap::new();
    let mut placements: Vec<Option<Frame>> = vec![None; n + 1];
    let mut stack = vec![root];
    body_of.insert(root, (0, Frame::identity()));
    while let Some(link) = stack.pop() {
        let (body, frame) = body_of[link];
        for joint in children.get(link).map(Vec::as_slice).unwrap_or(&[]) {
            let at = frame.then(&pose_frame(&joint.origin));
            let child = joint.child.link.as_str();
            match index.get(joint.name.as_str()) {
                Some(&k) => {
                    if body != k - 1 {
                        let previous = if k == 1 {
                            "the base".to_string()
                        } else {
                            format!("joint `{}`", controlled[k - 2].name)
                        };
                        return Err(fail(
                            format!("joint `{}`", joint.name),
                            format!("is not moved by {previous} alone: the controlled joints must form a serial chain, listed from the root"),
                        ));
                    }
                    placements[k] = Some(at);
                    body_of.insert(child, (k, Frame::identity()));
                }
                None => {
                    body_of.insert(child, (body, at));
                }
            }
            stack.push(child);
        }
    }
    if body_of.len() != robot.links.len() {
        let unreached = robot
            .links
            .iter()
            .find(|l| !body_of.contains_key(l.name.as_str()))
            .map_or("?", |l| l.name.as_str());
        return Err(fail(
            format!("link `{unreached}`"),
            "is not reached from the root: its joints form a loop".into(),
        ));
    }

    // Mass properties, lumped per body.
    let mut lumps = vec![Lump::default(); n + 1];
    for link in &robot.links {
        let element = format!("link `{}` <inertial>", link.name);
        let inertial = &link.inertial;
        let m = inertial.mass.value;
        let i = &inertial.inertia;
        let values = [m, i.ixx, i.ixy, i.ixz, i.iyy, i.iyz, i.izz];
        check_finite(&values).map_err(|p| fail(element.clone(), p))?;
        check_pose(&inertial.origin).map_err(|p| fail(format!("{element} <origin>"), p))?;
        let inertia = Matrix3::new(
            i.ixx, i.ixy, i.ixz, i.ixy, i.iyy, i.iyz, i.ixz, i.iyz, i.izz,
        );
        if m < 0.0 {
            return Err(fail(
                format!("{element} <mass>"),
                format!("expected a mass >= 0, found {m}"),
            ));
        }
        if m == 0.0 {
            if inertia.iter().any(|v| *v != 0.0) {
                return Err(fail(
                    format!("{element} <mass>"),
                    "zero mass with a non-zero inertia: expected a mass > 0".into(),
                ));
            }
            continue;
        }
        let eig = inertia.symmetric_eigenvalues();
        let positive = eig.iter().all(|v| *v > 0.0);
        let tol = 1e-9 * eig.amax();
        let triangle = (0..3).all(|k| eig[(k + 1) % 3] + eig[(k + 2) % 3] + tol >= eig[k]);
        if !positive || !triangle {
            return Err(fail(
                format!("{element} <inertia>"),
                format!(
                    "not a rigid body's inertia (principal moments {:.3e}, {:.3e}, {:.3e}: expected all > 0, each at most the sum of the others)",
                    eig[0], eig[1], eig[2]
                ),
            ));
        }
        let (body, frame) = body_of[link.name.as_str()];
        let inertial_frame = frame.then(&pose_frame(&inertial.origin));
        let r = inertial_frame.rotation;
        lumps[body].add(m, inertial_frame.translation, r * inertia * r.transpose());
    }

    // By default the end effector is the last joint's child, carried on
    // along a single line of fixed joints (a flange, a tool point).
    let tip_link = options.tip.clone().unwrap_or_else(|| {
        let mut link = controlled[n - 1].child.link.as_str();
        while let Some([only]) = children.get(link).map(Vec::as_slice) {
            if only.joint_type != JointType::Fixed {
                break;
            }
            link = only.child.link.as_str();
        }
        link.to_string()
    });
    let tip = match body_of.get(tip_link.as_str()) {
        Some((body, frame)) if *body == n => *frame,
        Some(_) => {
            return Err(fail(
                format!("tip: link `{tip_link}`"),
                "is not moved by the last controlled joint".into(),
            ))
        }
        None => {
            return Err(fail(
                format!("tip: link `{tip_link}`"),
                "no such link in the file".into(),
            ))
        }
    };
    let payload_link = options
        .payload_link
        .clone()
        .unwrap_or_else(|| tip_link.clone());
    let payload_mass = parameters["payload_mass_kg"];
    match body_of.get(payload_link.as_str()) {
        Some((body, frame)) => {
            if payload_mass > 0.0 && *body > 0 {
                let at = Vector3::new(
                    parameters["payload_x_m"],
                    parameters["payload_y_m"],
                    parameters["payload_z_m"],
                );
                lumps[*body].add(
                    payload_mass,
                    frame.translation + frame.rotation * at,
                    Matrix3::zeros(),
                );
            }
        }
        None => {
            return Err(fail(
                format!("payload_link: link `{payload_link}`"),
                "no such link in the file".into(),
            ))
        }
    }

    let mut joints = Vec::with_capacity(n);
    let mut state_min = vec![f64::NEG_INFINITY; 2 * n];
    let mut state_max = vec![f64::INFINITY; 2 * n];
    let mut effort = Vec::with_capacity(n);
    let mut initial = vec![0.0; 2 * n];
    for (k, joint) in controlled.iter().enumerate() {
        let element = format!("joint `{}`", joint.name);
        let axis = Vector3::from(joint.axis.xyz.0);
        if axis.norm() < 1e-9 {
            return Err(fail(format!("{element} <axis xyz>"), "a zero axis".into()));
        }
        let (mass, com, inertia) = lumps[k + 1].finish();
        if mass <= 0.0 {
            return Err(fail(
                format!("link `{}`", joint.child.link),
                format!("zero mass: nothing moved by joint `{}` has mass (the mass matrix would be singular); expected a mass > 0", joint.name),
            ));
        }
        let limit = &joint.limit;
        check_finite(&[limit.effort]).map_err(|p| fail(format!("{element} <limit effort>"), p))?;
        if limit.effort <= 0.0 {
            return Err(fail(
                format!("{element} <limit effort>"),
                format!("expected the joint's effort limit > 0 (it bounds the controller's input), found {}", limit.effort),
            ));
        }
        effort.push(limit.effort);
        if limit.lower.is_nan() || limit.upper.is_nan() || limit.velocity.is_nan() {
            return Err(fail(format!("{element} <limit>"), "a NaN".into()));
        }
        if joint.joint_type != JointType::Continuous {
            if limit.lower.is_finite() && limit.upper.is_finite() && limit.lower >= limit.upper {
                return Err(fail(
                    format!("{element} <limit lower upper>"),
                    format!(
                        "expected lower < upper, found {} and {}",
                        limit.lower, limit.upper
                    ),
                ));
            }
            state_min[k] = limit.lower;
            state_max[k] = limit.upper;
            initial[k] = 0.0_f64.clamp(limit.lower, limit.upper);
        }
        if limit.velocity.is_finite() && limit.velocity > 0.0 {
            state_min[n + k] = -limit.velocity;
            state_max[n + k] = limit.velocity;
        }
        let frame = placements[k + 1].expect("every controlled joint was placed by the walk");
        let (damping, friction) = joint
            .dynamics
            .as_ref()
            .map_or((0.0, 0.0), |d| (d.damping, d.friction));
        joints.push(ChainJoint {
            name: joint.name.clone(),
            rotation: frame.rotation,
            translation: frame.translation,
            axis: axis.normalize(),
            prismatic: joint.joint_type == JointType::Prismatic,
            mass,
            com,
            inertia,
            damping,
            friction,
        });
    }
    let chain = Chain {
        joints,
        gravity: Vector3::new(0.0, 0.0, -parameters["gravity_mps2"]),
        tip_rotation: tip.rotation,
        tip_translation: tip.translation,
        coulomb_rate: parameters["coulomb_rate_radps"],
        friction_scale: parameters["friction_scale"],
    };

    // The mass matrix must be positive definite where the robot starts.
    let m = mass_matrix_at(&chain, &initial[..n]);
    let mm = nalgebra::DMatrix::from_fn(n, n, |r, k| m[r][k]);
    if mm.cholesky().is_none() {
        return Err(fail(
            "inertias".into(),
            "the joint-space mass matrix is not positive definite at the initial state (a joint moves no inertia about its axis)".into(),
        ));
    }

    let names: Vec<String> = chain.joints.iter().map(|j| j.name.clone()).collect();
    let mut state_names = names.clone();
    state_names.extend(names.iter().map(|j| format!("{j}_rate")));
    // A prismatic joint moves in metres under a force, a revolute one in
    // radians under a torque.
    let unit = |prismatic: &str, revolute: &str| -> Vec<String> {
        let each = chain.joints.iter();
        each.map(|j| if j.prismatic { prismatic } else { revolute }.to_string())
            .collect()
    };
    let mut state_units = unit("m", "rad");
    state_units.extend(unit("m/s", "rad/s"));
    let model = ModelFile {
        origin: origin.to_string(),
        name: robot.name.clone(),
        state_names,
        input_names: names.iter().map(|j| format!("{j}_effort")).collect(),
        state_units,
        input_units: unit("N", "N m"),
        input_min: effort.iter().map(|e| -e).collect(),
        input_max: effort.clone(),
        safe_input: vec![0.0; n],
        initial_state: initial,
        parameters,
        position_states: 0,
        governor: None,
        box_m: [0.06, 0.06, 0.06],
        state_min,
        state_max,
        kind: crate::robots::ModelFileConfig::URDF_KIND,
        discrete_period_secs: None,
        // The tip's placement; an encoder on every controlled joint.
        position_mapped: true,
        attitude_mapped: true,
        encoder_states: (0..n).collect(),
        backend: Backend::Chain(Box::new(chain)),
    };
    let mut xdot = vec![0.0; 2 * n];
    model.derivative(&model.initial_state, &model.safe_input, &mut xdot);
    if let Some(i) = xdot.iter().position(|v| !v.is_finite()) {
        return Err(fail(
            format!("state `{}`", model.state_names[i]),
            format!("its derivative is {} at the initial state", xdot[i]),
        ));
    }
    Ok(model)
}

fn check_finite(values: &[f64]) -> Result<(), String> {
    match values.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(format!("expected finite numbers, found {v}")),
        None => Ok(()),
    }
}

fn check_pose(pose: &Pose) -> Result<(), String> {
    check_finite(&pose.xyz.0)?;
    check_finite(&pose.rpy.0)
}

/// A URDF `<origin xyz rpy>`: roll about x, then pitch about y, then yaw
/// about z, all about the fixed axes.
fn pose_frame(pose: &Pose) -> Frame {
    let [roll, pitch, yaw] = pose.rpy.0;
    Frame {
        rotation: Rotation3::from_euler_angles(roll, pitch, yaw).into_inner(),
        translation: Vector3::from(pose.xyz.0),
    }
}

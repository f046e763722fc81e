use nalgebra::{Point3, Vector3};

/// A half-line `origin + t * dir`, `t >= 0`, with `dir` of unit length.
#[derive(Debug, Clone, Copy)]
pub struct Ray {
    pub origin: Point3<f64>,
    pub dir: Vector3<f64>,
}

impl Ray {
    /// A ray along `dir` (normalised here).
    pub fn new(origin: Point3<f64>, dir: Vector3<f64>) -> Self {
        Self {
            origin,
            dir: dir.normalize(),
        }
    }

    pub fn at(&self, t: f64) -> Point3<f64> {
        self.origin + self.dir * t
    }
}

/// An axis-aligned box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aabb {
    pub min: Point3<f64>,
    pub max: Point3<f64>,
}

impl Aabb {
    pub fn empty() -> Self {
        Self {
            min: Point3::new(f64::INFINITY, f64::INFINITY, f64::INFINITY),
            max: Point3::new(f64::NEG_INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY),
        }
    }

    pub fn union(&self, other: &Aabb) -> Aabb {
        Aabb {
            min: self.min.inf(&other.min),
            max: self.max.sup(&other.max),
        }
    }

    pub fn center(&self) -> Point3<f64> {
        nalgebra::center(&self.min, &self.max)
    }

    /// Entry distance of the ray into the box if it enters before `t_max`
    /// (slab test; 0 when the origin is inside). `inv_dir` is `1 / ray.dir`
    /// per component (infinite where it is zero).
    #[inline]
    pub fn hit(&self, ray: &Ray, inv_dir: &Vector3<f64>, t_max: f64) -> Option<f64> {
        let mut t0: f64 = 0.0;
        let mut t1 = t_max;
        for a in 0..3 {
            let inv = inv_dir[a];
            let mut near = (self.min[a] - ray.origin[a]) * inv;
            let mut far = (self.max[a] - ray.origin[a]) * inv;
            if near > far {
                std::mem::swap(&mut near, &mut far);
            }
            // NaN (0 * inf on a face) compares false and leaves the bound.
            if near > t0 {
                t0 = near;
            }
            if far < t1 {
                t1 = far;
            }
            if t0 > t1 {
                return None;
            }
        }
        Some(t0)
    }
}

/// Where a ray met a surface.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Distance along the ray, m.
    pub t: f64,
    /// Outward unit normal of the surface at the hit.
    pub normal: Vector3<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slab_test_hits_and_misses() {
        let b = Aabb {
            min: Point3::new(1.0, -1.0, -1.0),
            max: Point3::new(2.0, 1.0, 1.0),
        };
        let inv = |r: &Ray| r.dir.map(|d| 1.0 / d);
        let r = Ray::new(Point3::origin(), Vector3::x());
        assert_eq!(b.hit(&r, &inv(&r), 10.0), Some(1.0));
        assert_eq!(b.hit(&r, &inv(&r), 0.5), None);
        let up = Ray::new(Point3::origin(), Vector3::z());
        assert_eq!(b.hit(&up, &inv(&up), 10.0), None);
    }
}

"""The phantom's valve anatomy: leaflets hinged on the root, inside it, opening to the wall."""

import dataclasses

import numpy as np
import pytest

from napari_msdl.phantoms import anatomy
from napari_msdl.phantoms.anatomy import valve_vertices
from napari_msdl.phantoms.generator import sample_valve
from napari_msdl.valve import LEAFLET_NU, LEAFLET_NV, TOPOLOGY


@pytest.fixture(scope="module")
def shapes():
    return [sample_valve(np.random.default_rng(s)) for s in range(8)]


def test_leaflets_hinge_on_the_root_at_the_landmarks(shapes):
    for s in shapes:
        v = valve_vertices(s)
        for k in range(3):
            leaf = TOPOLOGY.leaflets[k]
            # leaflet vertex (u=0, v=0) is commissure k, (u=middle, v=0) the nadir of sinus k
            np.testing.assert_allclose(v[leaf[0]], v[TOPOLOGY.commissures[k]], atol=1e-9)
            mid = (LEAFLET_NU // 2) * LEAFLET_NV
            np.testing.assert_allclose(v[leaf[mid]], v[TOPOLOGY.nadirs[k]], atol=1e-9)
        assert np.allclose(v[TOPOLOGY.nadirs, 2], 0.0)  # the annulus is the plane z = 0


def test_leaflets_stay_inside_the_root(shapes):
    for s in shapes:
        v = valve_vertices(s)
        for leaf in TOPOLOGY.leaflets:
            p = v[leaf].reshape(LEAFLET_NU, LEAFLET_NV, 3)[:, 1:].reshape(-1, 3)
            d = p[:, :2] - anatomy.centerline(p[:, 2], s)
            rho = np.hypot(d[:, 0], d[:, 1])
            limit = anatomy.root_radius(p[:, 2], np.arctan2(d[:, 1], d[:, 0]), s)
            assert np.all(rho <= limit - 0.4)


def test_opening_moves_the_free_edge_from_the_centre_to_the_wall(shapes):
    for s in shapes[:3]:
        radii = {}
        for o in (0.0, 1.0):
            v = valve_vertices(dataclasses.replace(s, leaflet_opening=o))
            tips = np.stack([v[leaf].reshape(LEAFLET_NU, LEAFLET_NV, 3)[LEAFLET_NU // 2, -1]
                             for leaf in TOPOLOGY.leaflets])  # middle of each free edge
            radii[o] = np.hypot(tips[:, 0], tips[:, 1])
        assert np.all(radii[0.0] < 0.1 * s.annulus_radius)  # closed: coapting at the centre
        assert np.all(radii[1.0] > 0.7 * s.annulus_radius)  # open: against the sinus walls


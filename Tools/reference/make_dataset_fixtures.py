#!/usr/bin/env python3
"""Fixtures for Tests/DatasetsTests: small files in every format the dataset readers take.

Regenerate (by hand, never in CI) from the repository root:
    python3 Tools/reference/make_dataset_fixtures.py
Needs numpy, h5py, scipy and pycocotools. Writes Tests/DatasetsTests/Fixtures/:
    a2d_one.h5, a2d_two.h5        A2D annotations written by h5py: `instance`, `reMask` stored transposed
                                  (W×H for one instance, N×W×H for two), `reBBox`
    a2d_expected.json             the masks CMPC_video/build_A2D_batches.py's get_masks builds from them
    mask_v5.mat, mask_v5z.mat     scipy.io.savemat, uncompressed / compressed: part_mask (uint8 H×W×T),
                                  segimg_t (double H×W), flags (logical), name (char)
    mask_v73.mat                  the same part_mask as MATLAB 7.3 writes it (HDF5, 512-byte header)
    truncated_v5z.mat             mask_v5z.mat cut short
    mat_expected.json             part_mask / segimg_t values in column-major order with their dims
    refs_p2.p, refs_p4.p, refs_p0.p   a REFER refs list pickled with protocols 2, 4 and 0
    refs_expected.json            the same list as JSON
    forbidden_global.p            a pickle with GLOBAL + REDUCE (protocol 2)
    forbidden_stack_global.p      a pickle with STACK_GLOBAL (protocol 4)
    instances.json                a tiny COCO file: polygons, a 4-number "polygon" (frPyObjects hands it
                                  to frBbox, which raises), uncompressed RLE, compressed RLE
    coco_expected.json            np.max(decode(frPyObjects(seg, h, w)), axis=2) per annotation (row-major)
"""
import datetime
import json
import os
import pickle

import h5py
import numpy as np
import scipy.io
from pycocotools import mask as cocomask

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'Tests', 'DatasetsTests', 'Fixtures')


def path(name):
    return os.path.join(OUT, name)


def get_masks_like_original(mask_file, instance_id):
    # The rule of build_A2D_batches.py get_masks for one file.
    f = h5py.File(mask_file, 'r')
    instance_ids = f['instance'][:]
    if instance_ids.shape[0] == 1:
        mask = f['reMask'][:].T
    else:
        index = np.argwhere(instance_ids == instance_id)
        index = np.squeeze(index)
        mask = f['reMask'][index].T
        mask = np.squeeze(mask)
        if index.size != 1:
            mask = np.sum(mask, axis=2)
    f.close()
    return (mask > 0).astype(np.uint8)


def a2d():
    rng = np.random.RandomState(6)
    # One instance: W=6, H=4 stored as reMask[W, H].
    one = (rng.rand(6, 4) > 0.5).astype(np.uint8)
    with h5py.File(path('a2d_one.h5'), 'w') as f:
        f['instance'] = np.array([3.0])
        f['reMask'] = one
        f['reBBox'] = np.array([[1.0], [0.0], [5.0], [3.0]])
    # Two instances (ids 2 and 5): reMask[N, W, H] with W=5, H=3.
    two = (rng.rand(2, 5, 3) > 0.5).astype(np.float64)
    with h5py.File(path('a2d_two.h5'), 'w') as f:
        f['instance'] = np.array([2.0, 5.0])
        f['reMask'] = two
        f['reBBox'] = np.zeros((4, 2))
    expected = {}
    for name, ids in [('a2d_one.h5', [3, 7]), ('a2d_two.h5', [2, 5, 9])]:
        for i in ids:
            m = get_masks_like_original(path(name), i)
            expected['%s:%d' % (name, i)] = {'height': int(m.shape[0]), 'width': int(m.shape[1]),
                                             'pixels': [int(v) for v in m.reshape(-1)]}
    with open(path('a2d_expected.json'), 'w') as f:
        json.dump(expected, f)


def mat():
    rng = np.random.RandomState(7)
    part_mask = (rng.rand(4, 5, 3) > 0.6).astype(np.uint8) * rng.randint(1, 9, size=(4, 5, 3)).astype(np.uint8)
    segimg_t = rng.randint(0, 3, size=(3, 4)).astype(np.float64)
    data = {'part_mask': part_mask, 'segimg_t': segimg_t, 'flags': np.array([[True, False, True]]),
            'name': 'puppet'}
    scipy.io.savemat(path('mask_v5.mat'), data, do_compression=False)
    scipy.io.savemat(path('mask_v5z.mat'), data, do_compression=True)
    raw = open(path('mask_v5z.mat'), 'rb').read()
    open(path('truncated_v5z.mat'), 'wb').write(raw[:len(raw) - 40])
    # MATLAB 7.3: HDF5 with a 512-byte user block holding the MAT header; arrays stored transposed.
    with h5py.File(path('mask_v73.mat'), 'w', userblock_size=512) as f:
        f['part_mask'] = part_mask.T
        f['part_mask'].attrs['MATLAB_class'] = np.bytes_('uint8')
    header = b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Jan  1 00:00:00 2026 HDF5 schema 1.00 .'
    header = header.ljust(116, b' ') + b'\x00' * 8 + b'\x00\x02' + b'IM'
    with open(path('mask_v73.mat'), 'r+b') as f:
        f.write(header)
    expected = {name: {'dims': list(a.shape), 'values': [float(v) for v in a.reshape(-1, order='F')]}
                for name, a in [('part_mask', part_mask), ('segimg_t', segimg_t)]}
    with open(path('mat_expected.json'), 'w') as f:
        json.dump(expected, f)


def refs():
    refs = [
        {'ref_id': 0, 'ann_id': 101, 'image_id': 9, 'split': 'train', 'category_id': 1,
         'file_name': 'COCO_train2014_000000000009_101.jpg', 'sent_ids': [0, 1],
         'sentences': [{'tokens': ['man', 'on', 'left'], 'raw': 'Man on left.', 'sent_id': 0, 'sent': 'man on left'},
                       {'tokens': ['guy'], 'raw': 'guy', 'sent_id': 1, 'sent': 'guy'}]},
        {'ref_id': 1, 'ann_id': 102, 'image_id': 9, 'split': 'testA', 'category_id': 1,
         'file_name': 'COCO_train2014_000000000009_102.jpg', 'sent_ids': [2],
         'sentences': [{'tokens': ['caf\u00e9', 'chair'], 'raw': 'Caf\u00e9 chair', 'sent_id': 2,
                        'sent': 'caf\u00e9 chair'}]},
        {'ref_id': 2, 'ann_id': 103, 'image_id': 25, 'split': 'train', 'category_id': 3,
         'file_name': 'COCO_train2014_000000000025_103.jpg', 'sent_ids': [3],
         'sentences': [{'tokens': ['crowd'], 'raw': 'crowd', 'sent_id': 3, 'sent': 'the crowd'}]},
        {'ref_id': 3, 'ann_id': 104, 'image_id': 25, 'split': 'val', 'category_id': 3,
         'file_name': 'COCO_train2014_000000000025_104.jpg', 'sent_ids': [4],
         'sentences': [{'tokens': ['box'], 'raw': 'box', 'sent_id': 4, 'sent': 'box thing'}]},
        {'ref_id': 4, 'ann_id': 105, 'image_id': 25, 'split': 'testB', 'category_id': 3,
         'file_name': 'COCO_train2014_000000000025_105.jpg', 'sent_ids': [5, 6],
         'sentences': [{'tokens': ['a'], 'raw': 'a', 'sent_id': 5, 'sent': 'compressed one'},
                       {'tokens': ['b'], 'raw': 'b', 'sent_id': 6, 'sent': 'score 0.5 and -3', 'score': -3.0e10}]},
    ]
    for proto, name in [(2, 'refs_p2.p'), (4, 'refs_p4.p'), (0, 'refs_p0.p')]:
        with open(path(name), 'wb') as f:
            pickle.dump(refs, f, protocol=proto)
    with open(path('refs_expected.json'), 'w') as f:
        json.dump(refs, f)
    with open(path('forbidden_global.p'), 'wb') as f:
        pickle.dump([{'ref_id': 0, 'when': datetime.date(2020, 1, 2)}], f, protocol=2)
    with open(path('forbidden_stack_global.p'), 'wb') as f:
        pickle.dump({'x': datetime.date(2020, 1, 2)}, f, protocol=4)


def coco():
    h9, w9 = 12, 10
    h25, w25 = 8, 9
    crowd_mask = np.zeros((h25, w25), dtype=np.uint8, order='F')
    crowd_mask[2:6, 1:4] = 1
    crowd_mask[0, 8] = 1
    compressed = cocomask.encode(np.asfortranarray(crowd_mask))
    compressed['counts'] = compressed['counts'].decode('ascii')
    counts = []
    flat = crowd_mask.reshape(-1, order='F')
    run, value = 0, 0
    for v in flat:
        if v == value:
            run += 1
        else:
            counts.append(run)
            run, value = 1, v
    counts.append(run)
    anns = [
        {'id': 101, 'image_id': 9, 'category_id': 1, 'iscrowd': 0,
         'segmentation': [[1.5, 1.2, 7.8, 2.1, 6.3, 9.4, 2.2, 8.0], [8.0, 9.0, 9.5, 11.0, 7.0, 11.5]]},
        {'id': 102, 'image_id': 9, 'category_id': 1, 'iscrowd': 0,
         'segmentation': [[0.0, 0.0, 4.0, 0.0, 4.0, 3.0, 0.0, 3.0]]},
        {'id': 103, 'image_id': 25, 'category_id': 3, 'iscrowd': 1,
         'segmentation': {'size': [h25, w25], 'counts': counts}},
        {'id': 104, 'image_id': 25, 'category_id': 3, 'iscrowd': 0,
         'segmentation': [[2.0, 1.0, 3.0, 4.0]]},
        {'id': 105, 'image_id': 25, 'category_id': 3, 'iscrowd': 1,
         'segmentation': {'size': [h25, w25], 'counts': compressed['counts']}},
    ]
    images = [{'id': 9, 'width': w9, 'height': h9, 'file_name': 'COCO_train2014_000000000009.jpg'},
              {'id': 25, 'width': w25, 'height': h25, 'file_name': 'COCO_train2014_000000000025.jpg'}]
    with open(path('instances.json'), 'w') as f:
        json.dump({'images': images, 'annotations': anns,
                   'categories': [{'id': 1, 'name': 'person'}, {'id': 3, 'name': 'car'}]}, f)
    expected = {}
    sizes = {9: (h9, w9), 25: (h25, w25)}
    for a in anns:
        if a['id'] == 104:
            continue  # frPyObjects sends a first polygon of 4 numbers to frBbox, which raises TypeError
        h, w = sizes[a['image_id']]
        seg = a['segmentation']
        if isinstance(seg, dict) and isinstance(seg['counts'], str):
            m = cocomask.decode({'size': seg['size'], 'counts': seg['counts'].encode('ascii')})
        else:
            rle = cocomask.frPyObjects(seg, h, w)
            m = cocomask.decode(rle)
            if m.ndim == 3:
                m = np.max(m, axis=2)
        expected[str(a['id'])] = {'height': h, 'width': w, 'pixels': [int(v) for v in m.reshape(-1)]}
    with open(path('coco_expected.json'), 'w') as f:
        json.dump(expected, f)


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    a2d()
    mat()
    refs()
    coco()
    print('fixtures written to', os.path.normpath(OUT))

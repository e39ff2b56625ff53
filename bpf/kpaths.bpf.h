/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Naming files from the BPF side: a file's path inside its mount (a walk up
 * the dentries) and its mount point (a walk up the mounts, to the root of the
 * mount's own namespace). Bounded loops, names truncated to FT_NAME_LEN; the
 * collector joins and escapes them. Reads go through kread.bpf.h.
 */
#ifndef FPUTRACE_KPATHS_BPF_H
#define FPUTRACE_KPATHS_BPF_H

#include "kread.bpf.h"

/* Copies the dentry name into dst (FT_NAME_LEN bytes, not always terminated). */
static __always_inline void ft_dentry_name(struct dentry *d, char *dst)
{
#ifdef FT_READ_CAST
	__u64 name = (__u64)d->d_name.name;
	__u64 *words = (__u64 *)dst;
	for (int i = 0; i < FT_NAME_LEN / 8; i++)
		words[i] = ft_read_u64(name + i * 8);
#else
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	bpf_probe_read_kernel_str(dst, FT_NAME_LEN, name);
#endif
}

static __always_inline struct dentry *ft_dentry_parent(struct dentry *d)
{
#ifdef FT_READ_CAST
	return d->d_parent;
#else
	return BPF_CORE_READ(d, d_parent);
#endif
}

/* Fills names[] leaf first, walking up to the root of the file's mount. */
static __always_inline void ft_file_path(struct file *f, struct ft_file *out)
{
	struct dentry *d, *root;
#ifdef FT_READ_CAST
	d = f->f_path.dentry;
	root = f->f_path.mnt->mnt_root;
#else
	d = BPF_CORE_READ(f, f_path.dentry);
	root = BPF_CORE_READ(f, f_path.mnt, mnt_root);
#endif
	for (int i = 0; i < FT_PATH_DEPTH; i++) {
		if (!d || d == root)
			return;
#ifdef FT_READ_CAST
		d = FT_CAST(struct dentry, d);
#endif
		ft_dentry_name(d, out->names[i]);
		struct dentry *parent = ft_dentry_parent(d);
		if (parent == d)
			return;
		d = parent;
	}
	if (d && d != root)
		out->flags |= FT_FILE_PATH_TRUNCATED;
}

static __always_inline struct mount *ft_real_mount(struct vfsmount *vm)
{
	__u64 m = (__u64)vm - bpf_core_field_offset(struct mount, mnt);
#ifdef FT_READ_CAST
	return FT_CAST(struct mount, m);
#else
	return (struct mount *)m;
#endif
}

struct ft_mount_walk {
	struct mount *m;      /* the mount whose mount point is being walked */
	struct mount *parent; /* the mount that dentry lives in */
	struct dentry *d;     /* current dentry in parent */
	struct dentry *root;  /* parent's root dentry */
};

static __always_inline struct dentry *ft_mount_root(struct mount *m)
{
#ifdef FT_READ_CAST
	return m->mnt.mnt_root;
#else
	return BPF_CORE_READ(m, mnt.mnt_root);
#endif
}

static __always_inline void ft_mount_walk_step_up(struct ft_mount_walk *w)
{
	/* Plain locals: BPF_CORE_READ must not relocate our own struct. */
	struct mount *m = w->parent, *parent;
	struct dentry *d;
#ifdef FT_READ_CAST
	parent = FT_CAST(struct mount, m->mnt_parent);
	d = m->mnt_mountpoint;
#else
	parent = BPF_CORE_READ(m, mnt_parent);
	d = BPF_CORE_READ(m, mnt_mountpoint);
#endif
	w->m = m;
	w->parent = parent;
	w->d = d;
	w->root = ft_mount_root(parent);
}

/* Names the path (mount, dentry) leaf first into names[], climbing through
 * parent mounts up to the namespace's root mount. One flat loop: each turn
 * either names a dentry or climbs to the parent mount. Returns true if the
 * path was deeper than FT_PATH_DEPTH names. */
static __always_inline bool ft_walk_names(struct mount *mnt, struct dentry *dentry,
					  char (*names)[FT_NAME_LEN])
{
	struct ft_mount_walk w = {};
	w.m = mnt;
	w.parent = mnt;
	w.d = dentry;
	w.root = ft_mount_root(mnt);
	__u32 k = 0;
	for (int i = 0; i < 2 * FT_PATH_DEPTH; i++) {
		if (!w.d)
			return false;
		if (w.d == w.root) {
			struct mount *before = w.parent;
			ft_mount_walk_step_up(&w);
			if (w.parent == before)
				return false; /* the namespace's root mount */
			continue;
		}
		if (k >= FT_PATH_DEPTH)
			return true;
#ifdef FT_READ_CAST
		w.d = FT_CAST(struct dentry, w.d);
#endif
		ft_dentry_name(w.d, names[k]);
		k++;
		w.d = ft_dentry_parent(w.d);
	}
	return true;
}

/* Fills mnt_names[] with the file's mount point, leaf first. */
static __always_inline void ft_file_mount_path(struct file *f, struct ft_file *out)
{
	struct mount *m;
#ifdef FT_READ_CAST
	m = ft_real_mount(f->f_path.mnt);
#else
	m = ft_real_mount(BPF_CORE_READ(f, f_path.mnt));
#endif
	/* The walk ends at the root mount of the mount's own namespace: that is
	 * where the path holds (a kworker's record may name a container's mount). */
#ifdef FT_READ_CAST
	out->mnt_ns = m->mnt_ns ? m->mnt_ns->ns.inum : 0;
#else
	out->mnt_ns = BPF_CORE_READ(m, mnt_ns, ns.inum);
#endif
	/* Internal (kern_mount) mounts never get here (file_watched). */
	if (!out->mnt_ns)
		out->flags |= FT_FILE_MNT_DETACHED;
	if (ft_walk_names(m, ft_mount_root(m), out->mnt_names))
		out->flags |= FT_FILE_MNT_TRUNCATED;
}

#endif /* FPUTRACE_KPATHS_BPF_H */

//go:build !darwin

package fuse

// platformMountOptions are the options only one platform's FUSE knows.
var platformMountOptions []string

package fuse

// macFUSE's options. noappledouble makes the kernel refuse Finder's
// AppleDouble files (._NAME) and .DS_Store before they reach us (they
// would be scratch anyway, never uploaded). noapplexattr is not set: it
// would fail every com.apple.* attribute call with an error that TextEdit
// and Preview report; the file system drops them on notebooks instead and
// keeps them on scratch files. volname names the volume in Finder.
var platformMountOptions = []string{"volname=notebookfs", "noappledouble"}

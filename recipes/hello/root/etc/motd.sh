#!/bin/sh
echo "hello from an image cast by ingot"

// Package appspec parses and validates the three kinds of AppSpec that
// CodeDeploy knows: ECS and Lambda AppSpecs, which the deployment engine reads
// from a revision, and the EC2/on-premises ("Server") AppSpec, which the host
// agent reads from a bundle. It also holds the lifecycle event order tables
// that the engine and the agent share.
//
// Parsing works on the YAML node tree (JSON documents are YAML too), so every
// error can name the key path and, where the document has one, the line. Bad
// input always gives an *Error (or an *UnsupportedOSError), never a panic.
//
// The ECS and Lambda AppSpecs are read the way the CodeDeploy service reads
// them: top-level and property keys are matched without regard to case (the
// user guide spells the same keys "Resources"/"resources" and
// "CurrentVersion"/"currentversion"), and unknown keys are errors. The Server
// AppSpec is read the way the CodeDeploy agent reads it
// (aws-codedeploy-agent, lib/instance_agent/plugins/codedeploy/
// application_specification/*.rb): keys are case-sensitive, and keys the agent
// does not read are ignored, so a bundle that deploys on AWS deploys here; they
// are reported in Server.Warnings instead.
package appspec

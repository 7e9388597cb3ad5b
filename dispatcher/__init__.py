"""School notification dispatcher: announcements to families by SMS, email and app push,
routed by each family's needs. docs/architecture.md maps this package folder by folder."""

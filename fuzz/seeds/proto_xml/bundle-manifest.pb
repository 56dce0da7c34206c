
İ	
5
android*http://schemas.android.com/apk/res/androidmanifest"K
*http://schemas.android.com/apk/res/androidversionCode4012(›„„2:0¬"R
*http://schemas.android.com/apk/res/androidversionName4.0.12(œ„„2

4.0.12"packagecom.example.shop*
    *¨
¥uses-sdk"J
*http://schemas.android.com/apk/res/androidminSdkVersion24(Œ„„2:0"M
*http://schemas.android.com/apk/res/androidtargetSdkVersion34(ğ„„2:0"*i
guses-permission"T
*http://schemas.android.com/apk/res/androidnameandroid.permission.INTERNET(ƒ€„*¼
¹application"e
*http://schemas.android.com/apk/res/androidlabel@string/app_name(€„2
€€¬østring/app_name"I
*http://schemas.android.com/apk/res/android
debuggabletrue(€„2:@*h
factivity"Z
*http://schemas.android.com/apk/res/androidname!com.example.shop.SettingsActivity(ƒ€„*
Šactivity"V
*http://schemas.android.com/apk/res/androidnamecom.example.shop.MainActivity(ƒ€„"G
*http://schemas.android.com/apk/res/androidexportedtrue(€„2:@*Ü
Ùintent-filter*_
]action"S
*http://schemas.android.com/apk/res/androidnameandroid.intent.action.MAIN(ƒ€„*g
ecategory"Y
*http://schemas.android.com/apk/res/androidname android.intent.category.LAUNCHER(ƒ€„